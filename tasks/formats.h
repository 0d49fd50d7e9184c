// The file formats a task's documents come in, each read into raw JSON documents in file order.
#pragma once
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace wr {

// jsonl (one object per line), json_array, hellaswag_6line (llama.cpp's: query, gold, four endings).
const std::set<std::string>& doc_formats();
// Errors name the file (and line for jsonl).
std::vector<nlohmann::json> read_docs(const std::string& path, const std::string& format);

}  // namespace wr
