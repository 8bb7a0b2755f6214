"""root:// inputs against a real XRootD server (tests/integration/conftest.py starts it).

The feature stage and ``dl4hep inspect`` read ``root://localhost:PORT//...`` copies of data/ and
must give exactly what they give for the local files; remote globs and ``@list`` files expand
through fsspec-xrootd; every failure (no such file, permission, unreachable host, timeout) is one
line naming the URL with a retry hint, exit status 2 and no output.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import awkward as ak
import pyarrow.parquet as pq
import pytest
import yaml

from dl4hep.cli import EXIT_USER_ERROR, main
from dl4hep.config import analysis_from_dict
from dl4hep.features.api import build_features
from dl4hep.io.inspect import describe_file
from dl4hep.io.locations import XROOTD_DEFAULTS, configure_xrootd
from dl4hep.plan import Plan
from tests.paths import REPO
from tests.unit._compare import assert_same_bits

LOCAL = REPO / "data"


def _config(tmp_path: Path) -> Path:
    """The mini dilepton task, written as a config file for the CLI."""
    raw = {"config_dir": str(REPO / "configs"), "output": str(tmp_path / "results"),
           "tasks": {"dilepton": {"samples": {"hww": {"chunks": 1, "events": 10}, "ttbar": {"chunks": 1, "events": 10}}}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _features(cfg: Path, src: str, out: Path) -> int:
    code = main(["features", "--config", str(cfg), "--task", "dilepton", "--sample", "hww", "--input", src,
                 "--out", str(out)])
    return code


def test_feature_stage_over_xrootd_equals_local(xrootd_server, tmp_path):
    cfg = analysis_from_dict(yaml.safe_load(_config(tmp_path).read_text()))
    url = xrootd_server.served("mini_hww.root")
    build_features(config=cfg, task="dilepton", sample="hww", input_path=LOCAL / "mini_hww.root",
                   out=tmp_path / "local.parquet")
    summary = build_features(config=cfg, task="dilepton", sample="hww", input_path=url, out=tmp_path / "remote.parquet")
    assert summary["input"] == url
    assert_same_bits(ak.from_parquet(tmp_path / "remote.parquet"), ak.from_parquet(tmp_path / "local.parquet"))
    meta = json.loads(pq.read_schema(tmp_path / "remote.parquet").metadata[b"dl4hep"])
    assert meta["inputs"] == [url] and meta["n_events"] > 0
    assert url in (tmp_path / "remote.parquet.provenance.json").read_text()


def test_cli_features_and_inspect_over_xrootd(xrootd_server, tmp_path, capsys):
    url = xrootd_server.served("mini_top.root")
    code = _features(_config(tmp_path), url, tmp_path / "out" / "f.parquet")
    assert code == 0, capsys.readouterr().err
    remote = describe_file(url).splitlines()
    local = describe_file(LOCAL / "mini_top.root").splitlines()
    assert remote[0] == url and remote[1:] == local[1:]
    assert main(["inspect", url, "--tree", "Events", "--filter", "FatJet_*"]) == 0
    out = capsys.readouterr().out
    assert "FatJet_msoftdrop" in out and "PFCands_pt" not in out


def test_remote_globs_and_lists(xrootd_server, tmp_path, at_repo):
    pattern = xrootd_server.url(xrootd_server.root / "mini_[ht]*.root")
    lst = tmp_path / "dataset.txt"
    lst.write_text("# dasgoclient output with a redirector prefix\n"
                   + "".join(f"{xrootd_server.served(n)}\n" for n in ("mini_ttbar.root", "mini_hww.root")))
    raw = {"output": str(tmp_path / "out"), "tasks": {"dilepton": {"samples": {
        "hww": {"generator": None, "files": [pattern]},
        "ttbar": {"generator": None, "files": [f"@{lst}"], "files_per_job": 2}}}}}
    plan = Plan(analysis_from_dict(raw), list_dir=str(tmp_path / "lists"))
    names = [u.rsplit("/", 1)[1] for u in plan.user_files("dilepton", "hww")]
    assert names == ["mini_hbb.root", "mini_hww.root", "mini_top.root", "mini_ttbar.root"]
    assert plan.user_files("dilepton", "hww")[0] == xrootd_server.served("mini_hbb.root")
    assert plan.parts("dilepton", "ttbar") == ["group0"] and plan.ntuple_files("dilepton", "ttbar", "group0") == []
    # the group job reads both remote files into one output, equal to the local files read the same way
    cfg = analysis_from_dict(yaml.safe_load(_config(tmp_path).read_text()))
    build_features(config=cfg, task="dilepton", sample="ttbar", input_path=plan.ntuple("dilepton", "ttbar", "group0"),
                   out=tmp_path / "remote.parquet")
    (tmp_path / "local.txt").write_text(f"{LOCAL / 'mini_ttbar.root'}\n{LOCAL / 'mini_hww.root'}\n")
    build_features(config=cfg, task="dilepton", sample="ttbar", input_path=f"@{tmp_path / 'local.txt'}",
                   out=tmp_path / "local.parquet")
    assert_same_bits(ak.from_parquet(tmp_path / "remote.parquet"), ak.from_parquet(tmp_path / "local.parquet"))
    assert Plan(analysis_from_dict(raw)).check() == {"hww": 4, "ttbar": 2}


# --------------------------------------------------------------------------- failures


@pytest.fixture
def short_timeouts():
    """XRootD client timeouts of seconds (the defaults allow 2 x 20 s per connection)."""
    configure_xrootd(ConnectionWindow=2, ConnectionRetry=1, RequestTimeout=4, TimeoutResolution=1)
    yield
    configure_xrootd(**XROOTD_DEFAULTS, TimeoutResolution=15)


@pytest.fixture
def silent_server(short_timeouts):
    """A TCP port that accepts connections and never answers: a hung storage node."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield sock.getsockname()[1]
    sock.close()
    for c in held:
        c.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: what each failure says; check-config contacts only remote globs (explicit URLs stay unchecked
#: so that planning 3,000 of them is fast), so it gets the glob cases and a hung server.
_FAILURES = {
    "missing": "no such file on the server",
    "permission": "permission denied",
    "unreachable": "cannot reach the server",
    "timeout": "timed out",
    "glob_nothing": "matches no file on the server",
    "glob_no_folder": "no such file on the server",
}
_CASES = [
    (command, case)
    for command in ("features", "inspect", "check-config")
    for case in _FAILURES
    if command != "check-config" or case.startswith("glob") or case == "timeout"
]


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.parametrize(("command", "case"), _CASES)
def test_remote_failures_are_one_line_rc2_and_leave_no_output(xrootd_server, tmp_path, capsys, request, command, case):
    if case == "unreachable":
        request.getfixturevalue("short_timeouts")
    if case == "permission":
        secret = xrootd_server.root / "secret.root"
        secret.write_bytes((LOCAL / "mini_hww.root").read_bytes())
        secret.chmod(0o000)
    url = {
        "missing": lambda: xrootd_server.served("absent.root"),
        "permission": lambda: xrootd_server.served("secret.root"),
        "unreachable": lambda: f"root://localhost:{_closed_port()}//data/mini_hww.root",
        "timeout": lambda: f"root://localhost:{request.getfixturevalue('silent_server')}//data/mini_hww.root",
        "glob_nothing": lambda: xrootd_server.served("nothing_*.root"),
        "glob_no_folder": lambda: xrootd_server.url(xrootd_server.root / "nofolder" / "*.root"),
    }[case]()
    cfg = _config(tmp_path)
    out = tmp_path / "out"
    if command == "features":
        code = _features(cfg, url, out / "f.parquet")
    elif command == "inspect":
        code = main(["inspect", url])
    else:
        raw = yaml.safe_load(cfg.read_text())
        raw["tasks"]["dilepton"]["samples"]["hww"] = {"generator": None, "files": [url.replace(".root", "*.root")
                                                                                    if case == "timeout" else url]}
        cfg.write_text(yaml.safe_dump(raw))
        code = main(["check-config", "--config", str(cfg)])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USER_ERROR, err
    assert len(err.splitlines()) == 1, err
    assert _FAILURES[case] in err, err
    assert "retry" in err or case == "glob_nothing", err
    assert command != "check-config" or "tasks.dilepton.samples.hww.files" in err, err
    assert url.split("*")[0].rsplit("/", 1)[0] in err
    assert not out.exists() and not (tmp_path / "results").exists()
