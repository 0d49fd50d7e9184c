// Documents from corpus files, streamed: .txt (the whole file is one document), .jsonl, .jsonl.gz and
// .jsonl.zst (one JSON object per line, the text in a configurable field), .parquet (one document per value of a
// string column, row group by row group: parquet_reader.h).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace wr {

// Expands shell globs, and folders to the files in them (not below; hidden ones left out), sorted, so the document
// order and therefore the split is reproducible; a pattern that matches nothing, or an empty folder, is an error
// naming it.
std::vector<std::string> expand_inputs(const std::vector<std::string>& patterns);

// Calls on_doc(text) for every document of path, in order. A bad JSON line or a missing/non-string field
// is an error naming the file and line (for parquet, the column or the row group). on_bytes(n) reports n more
// compressed-or-raw input bytes read.
void read_documents(const std::string& path, const std::string& text_field,
                    const std::function<void(std::string&&)>& on_doc,
                    const std::function<void(int64_t)>& on_bytes = {});

}  // namespace wr
