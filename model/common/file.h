// File helpers: whole-file reads with errors that name the file, atomic writes (temp file, fsync,
// rename, so a crash never leaves a half-written file under the final name), and SHA-256.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace wr {

std::string read_file(const std::string& path);
// Writes data to path.tmp.<pid>, fsyncs it, renames it over path and fsyncs the directory.
void write_file_atomic(const std::string& path, std::string_view data);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);

std::string sha256_hex(std::string_view data);
std::string sha256_file(const std::string& path);

}  // namespace wr
