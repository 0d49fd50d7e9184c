#include "model/io/torch_archive.h"

#include <zip.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>

#include "common/error.h"
#include "common/strings.h"

namespace wr {
namespace {

// Deflate's largest expansion is about 1032:1; a stored record's size is its compressed size.
constexpr uint64_t kMaxDeflateRatio = 1032;

// What follows a pickle opcode (Python's pickletools, protocols 0 to 5).
enum class Operand { none, fixed, length, line, two_lines, unknown };
struct OpcodeShape {
  Operand operand;
  int width;  // fixed: the operand's bytes; length: the bytes of the little-endian length before the data
};

OpcodeShape opcode_shape(uint8_t op) {
  switch (op) {
    case '(': case ')': case '}': case ']': case 'N': case 0x88: case 0x89: case 't': case 0x85: case 0x86:
    case 0x87: case 'u': case 's': case 'e': case 'a': case 'R': case 'b': case '.': case '0': case '1': case '2':
    case 'Q': case 0x81: case 0x92: case 0x93: case 0x94: case 0x8f: case 0x90: case 0x91: case 'l': case 'd':
    case 'o': case 0x97: case 0x98:
      return {Operand::none, 0};
    case 'K': case 'q': case 'h': case 0x80: case 0x82: return {Operand::fixed, 1};
    case 'M': case 0x83: return {Operand::fixed, 2};
    case 'J': case 'r': case 'j': case 0x84: return {Operand::fixed, 4};
    case 'G': case 0x95: return {Operand::fixed, 8};
    case 'U': case 'C': case 0x8c: case 0x8a: return {Operand::length, 1};
    case 'X': case 'B': case 'T': case 0x8b: return {Operand::length, 4};
    case 0x8d: case 0x8e: case 0x96: return {Operand::length, 8};
    case 'I': case 'L': case 'F': case 'S': case 'V': case 'P': case 'p': case 'g': return {Operand::line, 0};
    case 'c': case 'i': return {Operand::two_lines, 0};
    default: return {Operand::unknown, 0};
  }
}

std::string opcode_name(uint8_t op) {
  char name[8];
  std::snprintf(name, sizeof name, "0x%02x", op);
  return name;
}

uint64_t little_endian(const uint8_t* p, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Walks the opcodes to STOP. LibTorch's unpickler appends every memoized value whatever its id and reserves room
// for the id it is given, so ids must come in the order Python's pickler assigns them (0, 1, 2, ...).
void check_pickle(const std::string& pickle, const std::string& where) {
  const auto* p = reinterpret_cast<const uint8_t*>(pickle.data());
  const uint64_t n = pickle.size();
  uint64_t pos = 0, op_pos = 0, memo_size = 0;
  auto need = [&](uint64_t bytes, uint8_t op) {
    if (bytes > n - pos)
      fail(where, ": pickle opcode ", opcode_name(op), " at byte ", op_pos, " declares ", bytes, " bytes, ", n - pos, " remain");
  };
  auto memo_put = [&](uint64_t id, uint8_t op) {
    if (id != memo_size) fail(where, ": pickle opcode ", opcode_name(op), " at byte ", op_pos, " stores memo id ", id, ", expected ", memo_size);
    ++memo_size;
  };
  auto memo_get = [&](uint64_t id, uint8_t op) {
    if (id >= memo_size) fail(where, ": pickle opcode ", opcode_name(op), " at byte ", op_pos, " reads memo id ", id, " of ", memo_size);
  };
  while (pos < n) {
    op_pos = pos;
    const uint8_t op = p[pos++];
    const OpcodeShape shape = opcode_shape(op);
    switch (shape.operand) {
      case Operand::unknown: fail(where, ": unknown pickle opcode ", opcode_name(op), " at byte ", op_pos);
      case Operand::none:
        if (op == '.') return;
        if (op == 0x94) ++memo_size;  // MEMOIZE
        break;
      case Operand::fixed: {
        need(shape.width, op);
        const uint64_t value = little_endian(p + pos, shape.width);
        if (op == 'q' || op == 'r') memo_put(value, op);  // BINPUT, LONG_BINPUT
        if (op == 'h' || op == 'j') memo_get(value, op);  // BINGET, LONG_BINGET
        pos += shape.width;
        break;
      }
      case Operand::length: {
        need(shape.width, op);
        const uint64_t length = little_endian(p + pos, shape.width);
        pos += shape.width;
        need(length, op);
        pos += length;
        break;
      }
      case Operand::line:
      case Operand::two_lines: {
        const uint64_t line_start = pos;
        for (int lines = shape.operand == Operand::line ? 1 : 2; lines > 0; --lines) {
          const void* end = std::memchr(p + pos, '\n', n - pos);
          if (!end) fail(where, ": pickle opcode ", opcode_name(op), " at byte ", op_pos, " has no end of line");
          pos = static_cast<uint64_t>(static_cast<const uint8_t*>(end) - p) + 1;
        }
        if (op == 'p' || op == 'g') {  // PUT, GET: the memo id in decimal
          uint64_t id = 0;
          const char* first = pickle.data() + line_start;
          const char* last = pickle.data() + pos - 1;
          const auto [end, ec] = std::from_chars(first, last, id);
          if (ec != std::errc() || end != last) fail(where, ": pickle opcode ", opcode_name(op), " at byte ", op_pos, " has no memo id");
          if (op == 'p') memo_put(id, op); else memo_get(id, op);
        }
        break;
      }
    }
  }
  fail(where, ": the pickle ends without its STOP opcode (truncated?)");
}

}  // namespace

TorchArchive check_torch_archive(std::string_view file, const std::string& path) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(file.data(), file.size(), 0, &error);
  zip_t* zip = source ? zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error) : nullptr;
  if (!zip) {
    if (source) zip_source_free(source);
    const std::string why = zip_error_strerror(&error);
    zip_error_fini(&error);
    fail(path, ": not a readable zip archive: ", why);
  }
  std::unique_ptr<zip_t, decltype(&zip_discard)> closer(zip, zip_discard);
  TorchArchive out;
  std::string pickle_name, folder;
  for (zip_int64_t i = 0, n = zip_get_num_entries(zip, 0); i < n; ++i) {
    zip_stat_t st;
    if (zip_stat_index(zip, static_cast<zip_uint64_t>(i), 0, &st) != 0) fail(path, ": zip record ", i, " is unreadable");
    const std::string name = st.name;
    const uint64_t most = st.comp_method == ZIP_CM_STORE ? st.comp_size : st.comp_size * kMaxDeflateRatio;
    if (st.comp_size > file.size() || st.size > most)
      fail(path, ": zip record ", name, " declares ", st.size, " bytes, more than its ", st.comp_size, " stored bytes can hold");
    if (i == 0) folder = name.substr(0, name.find('/') + 1);
    if (name.find("/data/") != std::string::npos) {
      out.storage_record_sizes.push_back(st.size);
      constexpr zip_uint64_t kKnown = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_ENCRYPTION_METHOD;
      if ((st.valid & kKnown) == kKnown && st.comp_method == ZIP_CM_STORE && st.encryption_method == ZIP_EM_NONE &&
          st.size == st.comp_size && !folder.empty() && starts_with(name, folder))
        out.stored_records[name.substr(folder.size())] = st.size;
    }
    if (ends_with(name, "/data.pkl") && name.find('/') == name.size() - 9) pickle_name = name;
  }
  if (pickle_name.empty()) fail(path, ": no <archive>/data.pkl record (not a torch.save archive)");
  zip_file_t* f = zip_fopen(zip, pickle_name.c_str(), 0);
  if (!f) fail(path, ": cannot open its record ", pickle_name, ": ", zip_strerror(zip));
  zip_stat_t st;
  zip_stat(zip, pickle_name.c_str(), 0, &st);
  std::string pickle(st.size, '\0');
  const zip_int64_t got = zip_fread(f, pickle.data(), st.size);
  zip_fclose(f);
  if (got < 0 || static_cast<uint64_t>(got) != st.size) fail(path, ": its record ", pickle_name, " is truncated or corrupt");
  check_pickle(pickle, path + " " + pickle_name);
  return out;
}

}  // namespace wr
