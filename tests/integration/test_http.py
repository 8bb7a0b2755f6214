"""http(s):// inputs: a local HTTP server that answers byte-range requests (as EOS and XRootD's HTTP
interface do) serves data/; the feature stage and inspect must read it as they read the local file.
TLS itself is not exercised: ``https://`` takes the same fsspec/aiohttp path with a certificate.
"""

from __future__ import annotations

import http.server
import io
import re
import threading
from functools import partial

import awkward as ak
import pytest
import yaml

from dl4hep.cli import EXIT_USER_ERROR, main
from dl4hep.config import analysis_from_dict
from dl4hep.features.api import build_features
from dl4hep.io.inspect import describe_file
from tests.paths import REPO
from tests.unit._compare import assert_same_bits

pytest.importorskip("aiohttp", reason="fsspec's HTTP filesystem needs aiohttp")


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler plus ``Range: bytes=a-b`` (206 Partial Content)."""

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def send_head(self):
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = self.translate_path(self.path)
        if m is None or not path.endswith(".root"):
            return super().send_head()
        try:
            data = open(path, "rb").read()  # noqa: SIM115 (small test files)
        except OSError:
            self.send_error(404)
            return None
        start, end = int(m.group(1)), int(m.group(2) or len(data) - 1)
        chunk = data[start : end + 1]
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{start + len(chunk) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(chunk)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(chunk)


@pytest.fixture(scope="module")
def http_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_RangeHandler, directory=str(REPO / "data")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_features_and_inspect_over_http_equal_local(http_url, tmp_path):
    cfg = analysis_from_dict({"config_dir": str(REPO / "configs"), "output": str(tmp_path), "tasks": {"dilepton": {}}})
    url = f"{http_url}/mini_hww.root"
    build_features(config=cfg, task="dilepton", sample="hww", input_path=REPO / "data" / "mini_hww.root",
                   out=tmp_path / "local.parquet")
    summary = build_features(config=cfg, task="dilepton", sample="hww", input_path=url, out=tmp_path / "http.parquet")
    assert summary["input"] == url
    assert_same_bits(ak.from_parquet(tmp_path / "http.parquet"), ak.from_parquet(tmp_path / "local.parquet"))
    assert describe_file(url).splitlines()[1:] == describe_file(REPO / "data" / "mini_hww.root").splitlines()[1:]


@pytest.mark.reliability
def test_missing_http_file_is_one_line(http_url, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"config_dir": str(REPO / "configs"), "tasks": {"dilepton": {}}}))
    code = main(["features", "--config", str(cfg), "--task", "dilepton", "--sample", "hww",
                 "--input", f"{http_url}/absent.root", "--out", str(tmp_path / "o" / "f.parquet")])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USER_ERROR and len(err.splitlines()) == 1
    assert "absent.root: no such file on the server" in err and "retry" in err
    assert not (tmp_path / "o").exists()
