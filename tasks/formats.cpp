#include "tasks/formats.h"

#include <fstream>

#include "common/error.h"
#include "common/file.h"
#include "common/json.h"
#include "tasks/preprocess.h"

namespace wr {

const std::set<std::string>& doc_formats() {
  static const std::set<std::string> formats = {"jsonl", "json_array", "hellaswag_6line"};
  return formats;
}

std::vector<nlohmann::json> read_docs(const std::string& path, const std::string& format) {
  std::vector<nlohmann::json> docs;
  if (format == "json_array") {
    nlohmann::json all;
    try {
      all = parse_json(read_file(path));
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number beyond double
      fail(path, ": invalid JSON: ", e.what());
    }
    if (!all.is_array()) fail(path, ": expected a JSON array of documents");
    for (auto& d : all) docs.push_back(std::move(d));
    return docs;
  }
  std::ifstream in(path);
  if (!in) fail(path, ": cannot open");
  std::string line;
  int64_t line_no = 0;
  if (format == "jsonl") {
    while (std::getline(in, line)) {
      ++line_no;
      if (python_strip(line).empty()) continue;
      try {
        docs.push_back(parse_json(line));
      } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number beyond double
        fail(path, ":", line_no, ": invalid JSON line: ", e.what());
      }
    }
    return docs;
  }
  if (format == "hellaswag_6line") {  // query, gold, then 4 endings, per document
    // Text as it is scored, so what a spreadsheet or Windows adds comes off: a UTF-8 BOM and CRLF line ends.
    // Bytes that are not UTF-8 are an error here, not a failure far away when the samples are written as JSON.
    std::vector<std::string> lines;
    while (std::getline(in, line)) {
      ++line_no;
      if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      try {
        nlohmann::json(line).dump();
      } catch (const nlohmann::json::type_error&) {
        fail(path, ":", line_no, ": not UTF-8 text");
      }
      lines.push_back(line);
    }
    if (lines.size() % 6 != 0) fail(path, ": ", lines.size(), " lines is not a multiple of 6");
    for (size_t i = 0; i < lines.size(); i += 6)
      docs.push_back({{"query", lines[i]}, {"label", lines[i + 1]},
                      {"endings", {lines[i + 2], lines[i + 3], lines[i + 4], lines[i + 5]}}});
    return docs;
  }
  fail("unknown file format '", format, "'");
}

}  // namespace wr
