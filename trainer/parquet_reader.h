// Parquet corpus files (one document per value of a string column), read through Arrow's parquet reader from
// PyPI's pyarrow wheel, which wr loads as a private plugin (parquet_plugin.cpp says why). A wr built where pyarrow
// was absent reads no parquet and says so.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace wr {

// Calls on_doc(text) for every value of the string column text_field of path, in order, one row group at a time:
// memory holds one row group's texts (twice, as Arrow decodes them and as copied out), never the file. A missing
// or non-string column names the file's columns; a damaged row group (a bad page, a failed page checksum) or a
// null text is one line naming the file and the row group. on_bytes(n): n more bytes of the file read.
void read_parquet_documents(const std::string& path, const std::string& text_field,
                            const std::function<void(std::string&&)>& on_doc,
                            const std::function<void(int64_t)>& on_bytes = {});

}  // namespace wr
