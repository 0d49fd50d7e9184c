#include "trainer/tensorboard.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/error.h"
#include "common/file.h"

namespace wr {
namespace {

namespace fs = std::filesystem;

// What wr-train's event files end with (TensorFlow's filename suffix): the files a reopening replaces. Other
// writers' files in the same folder are left alone.
constexpr const char* kSuffix = ".wr-train";
constexpr const char* kPrefix = "events.out.tfevents.";

// protobuf wire format: https://protobuf.dev/programming-guides/encoding/
enum Wire { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(std::string& out, uint64_t v) {
  for (; v >= 0x80; v >>= 7) out += static_cast<char>((v & 0x7F) | 0x80);
  out += static_cast<char>(v);
}

void put_key(std::string& out, int field, Wire wire) { put_varint(out, static_cast<uint64_t>(field) << 3 | wire); }

void put_little_endian(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>(v >> (8 * i) & 0xFF);
}

void put_message(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out += bytes;
}

// tensorboard/compat/proto/event.proto: Event{double wall_time = 1; int64 step = 2; oneof what {string
// file_version = 3; Summary summary = 5; SessionLog session_log = 7; ...}}; summary.proto: Summary{repeated Value
// value = 1}, Value{string tag = 1; float simple_value = 2}; SessionLog{SessionStatus status = 1}, START = 1.
std::string event_head(int64_t step) {
  const double wall_time = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  uint64_t bits;
  std::memcpy(&bits, &wall_time, sizeof bits);
  std::string e;
  put_key(e, 1, kFixed64);
  put_little_endian(e, bits, 8);
  put_key(e, 2, kVarint);
  put_varint(e, static_cast<uint64_t>(step));  // int64: two's complement as a varint
  return e;
}

std::string file_version_event() {
  std::string e = event_head(0);
  put_message(e, 3, "brain.Event:2");
  return e;
}

std::string session_start_event(int64_t step) {
  std::string log;
  put_key(log, 1, kVarint);
  put_varint(log, 1);  // SessionLog.START
  std::string e = event_head(step);
  put_message(e, 7, log);
  return e;
}

std::string scalar_event(int64_t step, const std::string& tag, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  std::string v;
  put_message(v, 1, tag);
  put_key(v, 2, kFixed32);
  put_little_endian(v, bits, 4);
  std::string summary;
  put_message(summary, 1, v);
  std::string e = event_head(step);
  put_message(e, 5, summary);
  return e;
}

bool get_varint(std::string_view& in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto b = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    *v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

uint64_t get_little_endian(std::string_view in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

// An Event's step and whether it carries a summary; false when the bytes are not a well-formed message.
bool parse_event(std::string_view in, int64_t* step, bool* summary) {
  *step = 0;
  *summary = false;
  while (!in.empty()) {
    uint64_t key, v;
    if (!get_varint(in, &key)) return false;
    switch (key & 7) {
      case kVarint:
        if (!get_varint(in, &v)) return false;
        if (key >> 3 == 2) *step = static_cast<int64_t>(v);
        break;
      case kFixed64:
      case kFixed32: {
        const size_t n = (key & 7) == kFixed64 ? 8 : 4;
        if (in.size() < n) return false;
        in.remove_prefix(n);
        break;
      }
      case kLengthDelimited:
        if (!get_varint(in, &v) || v > in.size()) return false;
        in.remove_prefix(v);
        if (key >> 3 == 5) *summary = true;
        break;
      default:
        return false;
    }
  }
  return true;
}

uint32_t masked_crc(std::string_view data) {
  const uint32_t crc = crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

// The whole, intact records of an events file, in order: reading stops at the first record cut short (a kill
// during a write) or failing its checksums.
std::vector<std::string_view> records(std::string_view file) {
  std::vector<std::string_view> out;
  while (file.size() >= 16) {  // 8 + 4 + data + 4
    const std::string_view length = file.substr(0, 8);
    const uint64_t n = get_little_endian(length, 8);
    if (get_little_endian(file.substr(8, 4), 4) != masked_crc(length) || n > file.size() - 16) break;
    const std::string_view data = file.substr(12, n);
    if (get_little_endian(file.substr(12 + n, 4), 4) != masked_crc(data)) break;
    out.push_back(data);
    file.remove_prefix(16 + n);
  }
  return out;
}

void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write ", path, ": ", std::strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string hostname() {
  char name[256] = "";
  if (::gethostname(name, sizeof name - 1) != 0 || !name[0]) return "localhost";
  std::string out = name;
  std::replace(out.begin(), out.end(), '/', '_');
  return out;
}

// The seconds field of one of our file names, or -1.
long long name_seconds(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return -1;
  char* end = nullptr;
  const long long s = std::strtoll(name.c_str() + std::strlen(kPrefix), &end, 10);
  return *end == '.' ? s : -1;
}

}  // namespace

uint32_t crc32c(std::string_view data) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (const char ch : data) c = table[(c ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string tfrecord(std::string_view data) {
  std::string length;
  put_little_endian(length, data.size(), 8);
  std::string out = length;
  put_little_endian(out, masked_crc(length), 4);
  out += data;
  put_little_endian(out, masked_crc(data), 4);
  return out;
}

EventWriter::EventWriter(const std::string& dir, int64_t keep_until_step) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create ", dir, ": ", ec.message());
  std::vector<std::string> ours;  // earlier files of this writer, oldest first
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name_seconds(name) >= 0 && name.size() > std::strlen(kSuffix) &&
        name.compare(name.size() - std::strlen(kSuffix), std::string::npos, kSuffix) == 0)
      ours.push_back(entry.path().string());
  }
  std::sort(ours.begin(), ours.end());

  // A name after every earlier one: TensorBoard goes on to files whose names sort after the one it reads.
  long long seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& p : ours) seconds = std::max(seconds, name_seconds(fs::path(p).filename().string()) + 1);
  char name[64];
  std::snprintf(name, sizeof name, "%s%010lld.", kPrefix, seconds);
  path_ = dir + "/" + name + hostname() + kSuffix;

  std::string head = tfrecord(file_version_event()) + tfrecord(session_start_event(0));
  if (keep_until_step >= 0 && !ours.empty()) {
    const std::string old = read_file(ours.back());
    for (const auto& r : records(old)) {
      int64_t step;
      bool summary;
      if (parse_event(r, &step, &summary) && summary && step <= keep_until_step) head += tfrecord(r);
    }
  }
  // Written under a name TensorBoard does not read (it reads every name holding "tfevents"), then renamed.
  const std::string tmp = dir + "/.events-rewrite.tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create ", tmp, ": ", std::strerror(errno));
  try {
    write_all(fd, head, tmp);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) fail("cannot write ", tmp, ": close: ", std::strerror(errno));
  rename_durably(tmp, path_);
  // The earlier files are emptied, not removed: a running TensorBoard reads the file it is on by name and stalls
  // on "not found" where it is gone, while at the end of an emptied one it goes on to the new file. Files an
  // earlier opening emptied are removed (TensorBoard never goes back to a file before the one it is on).
  for (const auto& p : ours) {
    if (fs::file_size(p) == 0) remove_durably(p);
    else if (::truncate(p.c_str(), 0) != 0) fail("cannot empty ", p, ": ", std::strerror(errno));
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) fail("cannot open ", path_, " for appending: ", std::strerror(errno));
}

EventWriter::~EventWriter() {
  try {
    flush();
  } catch (const Error&) {  // a destructor reports nothing; the run is ending on another error
  }
  ::close(fd_);
}

void EventWriter::scalar(int64_t step, const std::string& tag, double value) {
  pending_ += tfrecord(scalar_event(step, tag, static_cast<float>(value)));
}

void EventWriter::flush() {
  if (pending_.empty()) return;
  std::string data;
  data.swap(pending_);
  write_all(fd_, data, path_);
}

}  // namespace wr
