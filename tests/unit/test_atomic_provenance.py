"""Safe outputs and provenance records."""

from __future__ import annotations

import json

import pytest

from dl4hep import __version__
from dl4hep.io.atomic import atomic_directory, atomic_output
from dl4hep.provenance import provenance_path, write_provenance


@pytest.mark.reliability
def test_atomic_output_keeps_previous_content_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.parquet"
    target.write_text("previous")
    with pytest.raises(RuntimeError, match="boom"), atomic_output(target) as tmp:
        tmp.write_text("half-written")
        assert tmp.suffix == ".parquet" and tmp.parent == tmp_path
        raise RuntimeError("boom")
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"], "temporary file left behind"


@pytest.mark.reliability
def test_atomic_output_publishes_only_on_success(tmp_path):
    target = tmp_path / "sub" / "x.json"
    with atomic_output(target) as tmp:
        tmp.write_text("{}")
        assert not target.exists()
    assert target.read_text() == "{}"


@pytest.mark.reliability
def test_atomic_directory_replaces_whole_directory_or_nothing(tmp_path):
    target = tmp_path / "dataset"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("1")
    assert (target / "a.txt").read_text() == "1"
    with pytest.raises(KeyboardInterrupt), atomic_directory(target) as tmp:
        (tmp / "b.txt").write_text("2")
        raise KeyboardInterrupt
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]


def test_provenance_records_config_version_and_commit(tmp_path):
    out = tmp_path / "f.parquet"
    out.write_text("x")
    path = write_provenance(out, stage="features", config={"task": "jets"}, extra={"rows": 3})
    assert path == provenance_path(out) == tmp_path / "f.parquet.provenance.json"
    record = json.loads(path.read_text())
    assert record["stage"] == "features"
    assert record["config"] == {"task": "jets"}
    assert record["dl4hep_version"] == __version__
    assert record["rows"] == 3
    assert record["git_commit"] == "unknown" or len(record["git_commit"].split("-")[0]) == 40
    d = tmp_path / "dir"
    d.mkdir()
    assert write_provenance(d, stage="dataset", config={}) == d / "provenance.json"


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "f.txt") as tmp:
            tmp.write_text("x")
        with atomic_directory(tmp_path / "d") as tmp:
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
