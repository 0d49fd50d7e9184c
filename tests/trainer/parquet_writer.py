"""The writing side of tests/trainer/parquet_test.cpp: pyarrow (scripts/requirements.txt) writes parquet files as
the Hugging Face Hub's are written, so wr's reader is checked against files it did not make.

  parquet_writer.py SPEC.json OUT.json
      SPEC: {"files": [{"path": P, "columns": {NAME: [values, null allowed]}, "row_group_size": N,
                        "compression": "none"|"snappy"|"zstd", "large_string": bool, "checksum": bool}]}
      Strings are written without dictionary encoding, as large_string when asked, with page CRCs when asked.
      OUT: {"files": [{"row_groups": [{"offset": where the first column's chunk starts, "bytes": its size}]}]}
Exits 3 when pyarrow is missing, so the test can skip with that message.
"""
import json
import sys


def main(spec_path, out_path):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        print(f"Python package missing: {e} (scripts/setup installs pyarrow into .venv)", file=sys.stderr)
        sys.exit(3)
    with open(spec_path) as f:
        spec = json.load(f)
    out = {"files": []}
    for w in spec["files"]:
        table = pa.table(w["columns"])
        if w.get("large_string"):
            table = table.cast(pa.schema([pa.field(f.name, pa.large_string() if f.type == pa.string() else f.type)
                                          for f in table.schema]))
        pq.write_table(table, w["path"], row_group_size=w["row_group_size"], compression=w["compression"],
                       use_dictionary=False, write_page_checksum=w.get("checksum", False))
        meta = pq.ParquetFile(w["path"]).metadata
        groups = []
        for g in range(meta.num_row_groups):
            chunk = meta.row_group(g).column(0)
            groups.append({"offset": chunk.data_page_offset, "bytes": chunk.total_compressed_size})
        out["files"].append({"row_groups": groups})
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
