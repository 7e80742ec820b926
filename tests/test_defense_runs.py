"""Defenses inside the real round loop on a tiny demo run, the proxy risk profile and its cache,
and the compare-defenses CLI's documented JSON shape."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.attacks import registry as attacks
from core.cli.main import main
from core.defenses import registry
from core.defenses.budget import RiskProfile
from core.errors import ParameterError
from core.experiments import defense_setup as dx
from core.experiments import runner
from core.experiments.config import RunConfig
from core.experiments.setup import prepare

ROUNDS = 3


@pytest.fixture(scope="module")
def prep():
    return prepare(RunConfig.build(dataset="demo", clients=5, rounds=ROUNDS, iters=10))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ST_GIA_CACHE", str(tmp_path / "cache"))


PROFILE = RiskProfile((0.9, 0.5, 0.1), (4.0, 7.0, 10.0), 10)


@pytest.mark.parametrize("scope", ["round", "total"])
@pytest.mark.parametrize("name", ["dpsgd", "geoi", "geogi", "adaptive"])
def test_each_defense_runs_through_the_loop_and_reports_its_budget(prep, name, scope):
    eps = 5.0
    d = dx.make_defense(name, eps, prep, profile=PROFILE, scope=scope)
    assert d.scope == scope and len(d.allocation) == ROUNDS      # started by make_defense
    res = runner.run(prep, {"st-gia": attacks.get("st-gia")}, d)
    assert len(res.attacks["st-gia"]) == ROUNDS and len(res.utility) == ROUNDS
    assert [b["epsilon_round"] for b in res.budget] == d.allocation
    spent = [b["epsilon_spent"] for b in res.budget]
    assert spent == [d.spent(t) for t in range(1, ROUNDS + 1)] and spent == sorted(spent)
    if name == "dpsgd" and scope == "round":       # what T Gaussian steps compose to (RDP)
        assert spent[-1] == d.epsilon_total
    elif name == "dpsgd":                            # the asked ε; the accountant's is just below
        assert d.epsilon_total == eps and eps - 0.011 <= spent[-1] <= eps
    else:                                            # uniform, and adaptive spends the remainder
        assert spent[-1] == pytest.approx(d.epsilon_total, rel=1e-12)
        assert d.epsilon_total == pytest.approx(eps * (ROUNDS if scope == "round" else 1),
                                                rel=1e-12)
    if name == "adaptive":
        assert d.allocation[0] < d.allocation[1]    # round 1 is the riskiest in PROFILE


def test_make_defense_takes_the_scope_and_settings_from_the_run_configuration(prep):
    assert prep.config.defense.epsilon_scope == "round"             # the configuration's default
    assert dx.make_defense("geoi", 2.0, prep).allocation == [2.0] * ROUNDS
    assert dx.make_defense("geoi", 2.0, prep, scope="total").scope == "total"   # explicit wins
    other = replace(prep, config=prep.config.with_(epsilon_scope="total", delta=1e-6,
                                                   clip_norm=0.5, radius_km=1.0))
    d = dx.make_defense("dpsgd", 2.0, other)
    assert (d.scope, d.delta, d.clip_norm) == ("total", 1e-6, 0.5)
    assert dx.make_defense("adaptive", 2.0, other, profile=PROFILE).radius_km == 1.0


def test_make_defense_supplies_only_what_the_defense_needs(prep, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("not needed")
    monkeypatch.setattr(dx, "risk_profile", boom)
    monkeypatch.setattr(dx, "roads_for", boom)
    for name in ("none", "dpsgd", "geoi"):
        d = dx.make_defense(name, 1.0, prep)
        assert getattr(d, "roads", None) is None
    shared = dx.DistanceCache(prep.roads)
    d = dx.make_defense("geogi", 1.0, prep, roads=prep.roads, distances=shared)
    assert d.distances is shared
    ctx = dx.defense_context(registry.make("adaptive", 1.0), prep, profile=PROFILE,
                             roads=prep.roads)
    assert ctx.profile is PROFILE and ctx.rounds == ROUNDS and ctx.population is prep.population


def test_location_outputs_are_road_nodes_and_pgem_stays_in_the_domain(prep):
    clients = np.arange(prep.population.n_clients)
    x, y = prep.population.round_batch(clients, 1, prep.fed.window, prep.fed.batch)
    net = prep.roads
    for name in ("geogi", "adaptive"):
        d = dx.make_defense(name, 5.0, prep, profile=PROFILE)
        xo, yo = d.perturb_inputs(1, clients, x, y, np.random.default_rng(0))
        assert xo.shape == x.shape and yo.shape == y.shape and xo.dtype == x.dtype
        z = torch.cat([xo, yo[:, :, None]], 2).double().numpy()            # (K, B, W+1, 2)
        ll = prep.normalizer.denormalize(z)
        node = net.nearest_node(ll[..., 0], ll[..., 1])
        assert np.allclose(net.lat[node], ll[..., 0], atol=1e-5)
        assert np.allclose(net.lon[node], ll[..., 1], atol=1e-5)
        if name == "adaptive":
            for row, k in enumerate(clients):
                assert np.isin(node[row], d.client_domains[k]).all()


def test_risk_profile_uses_proxy_users_and_is_cached(prep, monkeypatch, tmp_path):
    proxy = dx.proxy_prepared(prep)
    assert not set(proxy.population.user_ids) & set(prep.population.user_ids)
    assert proxy.population.n_clients == prep.population.n_clients
    prof = dx.risk_profile(prep)
    assert len(prof) == ROUNDS and prof.iters == 10
    assert all(0.0 <= a <= 1.0 for a in prof.asr) and all(1.0 <= k <= 10.0 for k in prof.ait)
    assert set(prof.meta["proxy_users"]) == set(proxy.population.user_ids)
    files = list((tmp_path / "cache" / "risk_profiles").glob("*.json"))
    assert len(files) == 1

    def boom(*a, **k):
        raise AssertionError("the cached profile should have been used")
    monkeypatch.setattr(runner, "run", boom)
    assert dx.risk_profile(prep) == prof
    other = replace(prep, config=prep.config.with_(iters=11))
    assert dx.profile_key(other) != dx.profile_key(prep)
    same = replace(prep, config=prep.config.with_(epsilon_scope="total", epsilon=3.0,
                                                  defense="geoi", epsilons=(2.0,)))
    assert dx.profile_key(same) == dx.profile_key(prep)         # defense settings are not in it


def test_no_road_network_falls_back_to_a_venue_graph(prep):
    bare = replace(prep, roads=None)
    d = dx.make_defense("geogi", 2.0, bare)
    assert d.roads is not None and "venues" in d.roads.name
    assert d.roads.n_nodes == len(np.unique(prep.venues, axis=0))
    clients = np.arange(prep.population.n_clients)
    x, y = prep.population.round_batch(clients, 1, 1, 1)
    xo, _ = d.perturb_inputs(1, clients, x, y, np.random.default_rng(0))
    assert torch.isfinite(xo).all()


def test_registry_rejects_unknown_defense_option_and_missing_epsilon():
    with pytest.raises(ParameterError, match="clip_norm"):
        registry.make("dpsgd", 1.0, clip=2.0)
    with pytest.raises(ParameterError):
        registry.make("geoi", None)
    with pytest.raises(ParameterError):
        registry.make("nope", 1.0)
    assert set(registry.names()) >= {"none", "dpsgd", "geoi", "geogi", "adaptive"}


def test_compare_defenses_cli_writes_the_documented_shape(tmp_path, capsys):
    out = tmp_path / "d.json"
    code = main(["compare-defenses", "--dataset", "demo", "--clients", "3", "--rounds", "2",
                 "--iters", "5", "--epsilons", "1,10", "--json", str(out), "--quiet"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert set(doc) >= {"config", "defenses", "wall_seconds"}
    assert doc["config"]["clients"] == 3 and doc["config"]["epsilons"] == [1.0, 10.0]
    assert set(doc["defenses"]) == {"none", "dpsgd", "geoi", "geogi", "adaptive"}
    assert set(doc["defenses"]["none"]) >= {"asr", "recall_at_5", "median_pred_error_m"}
    for name in ("dpsgd", "geoi", "geogi", "adaptive"):
        assert set(doc["defenses"][name]) == {"1", "10"}
        for e, row in doc["defenses"][name].items():
            assert set(row) >= {"asr", "recall_at_5", "allocation", "spent"}
            assert 0.0 <= row["asr"] <= 1.0 and len(row["allocation"]) == 2
            if name != "dpsgd":                      # sequential composition: Σ_t ε_t
                assert row["spent"] == pytest.approx(math.fsum(row["allocation"]), rel=1e-9)
                assert row["spent"] <= 2 * float(e) * (1 + 1e-12)   # ≤ T·ε in either scope
    assert len(doc["risk_profile"]["asr"]) == 2
    md = out.with_suffix(".md").read_text()
    assert "| ε | 1 | 10 |" in md and f"| {registry.label('geogi')} |" in md
    printed = capsys.readouterr().out
    assert f"| {registry.label('geogi')} |" in printed and "frontier" in printed.lower()
