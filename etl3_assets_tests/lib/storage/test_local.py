"""The storage interface on a local folder."""

import pyarrow as pa
import pyarrow.parquet as pq

from etl3_assets.lib.storage import LocalStorage, open_storage


def test_open_storage_chooses_a_folder_for_a_path(tmp_path):
    assert isinstance(open_storage(str(tmp_path / "wh")), LocalStorage)


def test_put_stat_get_list_delete(tmp_path):
    storage = LocalStorage(tmp_path / "wh")
    assert storage.stat("a/b.bin") is None and storage.get_bytes("a/b.bin") is None
    storage.put_bytes("a/b.bin", b"12345")
    stat = storage.stat("a/b.bin")
    assert stat.size == 5
    storage.put_bytes("a/b.bin", b"123456")
    assert storage.stat("a/b.bin").fingerprint != stat.fingerprint, "a rewrite changes the fingerprint"
    assert list(storage.list("a")) == [("a/b.bin", 6)]
    assert not [p for p in (tmp_path / "wh" / "a").iterdir() if p.name.endswith(".tmp")]
    storage.delete(["a/b.bin", "a/missing.bin"])
    assert not (tmp_path / "wh" / "a").exists(), "empty folders go with their last file"


def test_put_file_takes_the_file_and_pyarrow_reads_it_back(tmp_path):
    storage = LocalStorage(tmp_path / "wh")
    local = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3]}), local)
    storage.put_file("staged/t.parquet", str(local))
    assert not local.exists()
    assert pq.ParquetFile(storage.open_input_file("staged/t.parquet")).read().column("x").to_pylist() == [1, 2, 3]
    assert storage.reader_options() is None and storage.catalog_uri("x") is None
