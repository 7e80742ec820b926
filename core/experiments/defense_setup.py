"""Setting up a defense for a prepared run: the road network it needs (or a venue stand-in), the
adaptive strategy's risk profile (an undefended proxy run, cached on disk), and `make_defense`,
which builds a defense from the registry and starts it with one `DefenseContext`.

Risk profile. The adaptive strategy needs ASR[t] and AIT[t] before training starts. They come
from an undefended run of the server's attack (the paper's ST-GIA in the paper preset) on a
*proxy population*: users who are not among the defended
clients (`select_users(..., exclude=clients)`), drawn with a seed stream distinct from the
clients'. Same dataset, model, federation and attack settings, as many proxies as clients (fewer if
the dataset runs out). The profile is cached as JSON under `$ST_GIA_CACHE/risk_profiles` (else
`~/.cache/st-gia-lab/risk_profiles`), keyed by everything that changes it: the dataset (path, size,
mtime), the attack, every field of the data, model, federation and evaluation sections, and the
attack's iteration cap and mapping prior (not the defense or sweep settings).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Callable

import numpy as np

from core.attacks import registry as attacks
from core.data.preprocess import select_users
from core.defenses import registry as defenses
from core.defenses.budget import RiskProfile
from core.defenses.mechanisms import DistanceCache
from core.errors import InputError
from core.experiments import runner
from core.experiments.config import all_fields
from core.experiments.setup import Prepared
from core.federated.clients import ClientPopulation
from core.federated.defense_hook import ClientDefense, DefenseContext

Progress = Callable[[dict], None]

PROXY_STREAM = 0x9E0C7  # second entry of the proxy selection's seed sequence: (seed, PROXY_STREAM)
PROFILE_VERSION = 2     # bump when the profile's computation changes (invalidates the cache)
# What the proxy run depends on: whole config sections (so a field added to one of them later
# invalidates profiles by default) plus the attack's iteration cap and mapping prior (the attack
# itself is keyed separately). The defense and sweep sections do not change it.
_KEY_SECTIONS = ("data", "model", "federation", "evaluation")
_KEY_FIELDS = ("iters", "prior")


# --- roads -------------------------------------------------------------------------------------

def roads_for(prep: Prepared):
    """The run's road network, or a stand-in over the dataset's public venue locations
    (`core.geo.loaders.from_locations`, k = 4 nearest neighbours, connected) when it has none."""
    if prep.roads is not None:
        return prep.roads
    from core.geo.loaders import from_locations

    v = np.asarray(prep.venues, dtype=np.float64)
    return from_locations(v[:, 0], v[:, 1], name=f"{prep.dataset.name} venues (k-NN graph)")


# --- risk profile --------------------------------------------------------------------------------

def cache_root() -> Path:
    root = os.environ.get("ST_GIA_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "st-gia-lab"


def _dataset_fingerprint(spec: str) -> dict:
    p = Path(spec)
    if p.is_file():
        st = p.stat()
        return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return {"name": spec}


def profile_key(prep: Prepared, attack: str | None = None) -> str:
    """Hex digest of everything the proxy run depends on (the attack: the run's, by default)."""
    attack = attack or prep.config.attack.attack
    cfg = prep.config.to_dict()
    info = all_fields()
    keep = {k for k, f in info.items() if f.section in _KEY_SECTIONS or k in _KEY_FIELDS}
    doc = {"v": PROFILE_VERSION, "attack": attack, "data": _dataset_fingerprint(cfg["dataset"]),
           **{k: v for k, v in cfg.items() if k in keep}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:24]


def proxy_prepared(prep: Prepared) -> Prepared:
    """The run's setup with the clients replaced by proxy users not among them."""
    cfg, fed, ds = prep.config, prep.fed, prep.dataset
    taken = set(prep.population.user_ids)
    eligible = sum(1 for tr in ds.trajectories
                   if len(tr) >= fed.min_points and tr.user_id not in taken)
    if eligible == 0:
        raise InputError(f"dataset {ds.name!r} has no users outside the {len(taken)} clients with "
                         f"at least {fed.min_points} points, so the adaptive defense has no proxy "
                         f"population for its risk profile; use fewer clients, or pass a profile")
    rng = np.random.default_rng((cfg.federation.seed, PROXY_STREAM))
    users = select_users(ds, min(cfg.federation.clients, eligible), fed.min_points, rng,
                         exclude=taken)
    return prep.with_population(ClientPopulation.from_trajectories(users, prep.normalizer))


def profile_path(prep: Prepared, cache_dir: str | Path | None = None,
                 attack: str | None = None) -> Path:
    """Where the risk profile of this run (and attack) is cached."""
    root = Path(cache_dir) if cache_dir is not None else cache_root() / "risk_profiles"
    return root / f"{profile_key(prep, attack)}.json"


def risk_profile(prep: Prepared, cache_dir: str | Path | None = None, use_cache: bool = True,
                 progress: Progress | None = None, attack: str | None = None) -> RiskProfile:
    """Per-round ASR and AIT of an undefended run of `attack` (default: the attack the run's
    server uses — the paper's ST-GIA in the paper preset) on a proxy population (cached)."""
    attack = attack or prep.config.attack.attack
    path = profile_path(prep, cache_dir, attack)
    if use_cache and path.is_file():
        try:
            return RiskProfile.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError):
            pass  # a corrupt cache entry is recomputed and overwritten
    proxy = proxy_prepared(prep)
    res = runner.run(proxy, {attack: attacks.get(attack)}, None, progress=progress)
    rounds = res.attacks[attack]
    meta = {"attack": attack, "proxy_users": list(proxy.population.user_ids),
            "config": prep.config.to_dict(), "seconds": round(res.seconds, 3)}
    prof = RiskProfile(tuple(r.asr for r in rounds), tuple(r.ait for r in rounds),
                       int(prep.config.attack.iters), meta)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(prof.to_dict()))
        os.replace(tmp, path)  # atomic: concurrent runs never read half a file
    return prof


# --- building defenses ---------------------------------------------------------------------------

# Defense-section fields whose option name differs (the CLI says --epsilon-scope, a defense `scope`)
_OPTION_NAMES = {"epsilon_scope": "scope"}


def config_options(name: str, prep: Prepared) -> dict:
    """Every defense-section setting of the run configuration that defense `name` accepts as an
    option (ε scope, DP-SGD's δ and clip norm, the adaptive strategy's α and domain radius, ...):
    a field added to the section reaches every defense that declares it, with no list to edit."""
    sec = prep.config.defense
    values = {_OPTION_NAMES.get(f.name, f.name): getattr(sec, f.name) for f in fields(sec)
              if f.name not in ("defense", "epsilon")}
    accepted = set(defenses.options(name))
    return {k: v for k, v in values.items() if k in accepted}


def defense_context(defense: ClientDefense, prep: Prepared, *,
                    profile: RiskProfile | None = None, roads=None,
                    distances: DistanceCache | None = None, cache_dir: str | Path | None = None,
                    progress: Progress | None = None) -> DefenseContext:
    """What the run supplies to `defense`: T and the clients; the road network when given or
    needed (else a graph over the venues); `distances` when it belongs to that network; the risk
    profile only when the defense needs one (computed on a proxy population and cached)."""
    need = defense.requirements()
    if roads is None and "roads" in need:
        roads = roads_for(prep)
    if distances is not None and distances.net is not roads:
        distances = None
    if "profile" in need:
        profile = profile if profile is not None else risk_profile(prep, cache_dir,
                                                                   progress=progress)
    else:
        profile = None
    return DefenseContext(prep.fed.rounds, prep.population, roads=roads, distances=distances,
                          profile=profile)


def make_defense(name: str, epsilon: float | None, prep: Prepared, *,
                 profile: RiskProfile | None = None, roads=None,
                 distances: DistanceCache | None = None, cache_dir: str | Path | None = None,
                 progress: Progress | None = None, **options) -> ClientDefense:
    """A started defense for the prepared run: `registry.make(name, epsilon, **options)` (the run
    configuration's defense settings — scope, δ, C, α, radius — unless `options` set them),
    then `start(defense_context(...))`."""
    d = defenses.make(name, epsilon, **{**config_options(name, prep), **options})
    d.start(defense_context(d, prep, profile=profile, roads=roads, distances=distances,
                            cache_dir=cache_dir, progress=progress))
    return d


def configured_defense(prep: Prepared, **context) -> ClientDefense:
    """The started defense the run's configuration names (`defense`, `epsilon` and the defense
    section's settings); `context` as for `make_defense` (shared roads, distances, profile)."""
    sec = prep.config.defense
    return make_defense(sec.defense, sec.epsilon, prep, **context)
