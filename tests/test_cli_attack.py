"""`python -m core attack` writes the documented JSON shape."""
import json

from core.cli.main import main


def test_attack_cli_json_shape(tmp_path, capsys):
    out = tmp_path / "run.json"
    code = main(["attack", "--dataset", "demo", "--attack", "st-gia", "--defense", "none",
                 "--clients", "3", "--rounds", "2", "--window", "1", "--iters", "5", "--seed", "0",
                 "--json", str(out), "--quiet"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert set(doc) >= {"config", "rounds", "summary", "reconstructions"}
    assert doc["config"]["attack"] == "st-gia" and doc["config"]["clients"] == 3
    assert [r["round"] for r in doc["rounds"]] == [1, 2]
    for r in doc["rounds"]:
        assert set(r) >= {"round", "asr", "ait", "median_error_m", "recall_at_5"}
        assert 0.0 <= r["asr"] <= 1.0
    clients = doc["reconstructions"]["clients"]
    assert len(clients) == 3
    point = clients[0]["points"][0]
    assert len(point["true"]) == 2 and len(point["rec"]) == 2 and point["error_m"] >= 0
    assert "| round |" in capsys.readouterr().out


def test_attack_cli_rejects_bad_parameters(capsys):
    assert main(["attack", "--dataset", "demo", "--attack", "nope", "--clients", "2",
                 "--rounds", "1", "--quiet"]) == 2
    assert "st-gia" in capsys.readouterr().err
    assert main(["attack", "--dataset", "demo", "--window", "0", "--quiet"]) == 2
    assert "window" in capsys.readouterr().err
