#include "tasks/download.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#ifdef WR_WITH_CURL
#include <curl/curl.h>
#endif

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "common/error.h"
#include "common/file.h"
#include "common/json.h"

namespace wr {
namespace {

namespace fs = std::filesystem;

int64_t file_size_or_zero(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

std::string basename_of_url(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  return path.substr(path.find_last_of('/') + 1);
}

#ifdef WR_WITH_CURL
enum class Outcome { ok, retry, fatal };

struct Transfer {
  FILE* file = nullptr;
  std::string part;
  int64_t resumed_from = 0;  // bytes already in the part file
  bool checked_status = false;
  long status = 0;
  CURL* curl = nullptr;
  const DownloadOptions* opt = nullptr;
  std::string label;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->checked_status) {
    t->checked_status = true;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
    if (t->status >= 400) return 0;  // an error page is never written into the cache
    if (t->status == 200 && t->resumed_from > 0) {  // the server ignored Range: start over
      if (::ftruncate(fileno(t->file), 0) != 0 || std::fseek(t->file, 0, SEEK_SET) != 0) return 0;
      t->resumed_from = 0;
    }
  }
  return std::fwrite(data, size, n, t->file) * size;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->opt->progress) t->opt->progress(t->label, t->resumed_from + now, total > 0 ? t->resumed_from + total : -1);
  return 0;
}

// One HTTP attempt that appends to the part file, asking for the rest when part of it is already there.
Outcome attempt(const std::string& url, Transfer& t, std::string* why) {
  t.resumed_from = file_size_or_zero(t.part);
  t.checked_status = false;
  t.status = 0;
  t.file = std::fopen(t.part.c_str(), t.resumed_from > 0 ? "ab" : "wb");
  if (!t.file) fail("cannot write ", t.part, ": ", std::strerror(errno));
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  t.curl = curl.get();
  const std::string range = std::to_string(t.resumed_from) + "-";
  curl_easy_setopt(t.curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(t.curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(t.curl, CURLOPT_USERAGENT, "wr/" WR_VERSION);
  curl_easy_setopt(t.curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(t.curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(t.curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(t.curl, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(t.curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(t.curl, CURLOPT_CONNECTTIMEOUT, t.opt->connect_timeout_s);
  curl_easy_setopt(t.curl, CURLOPT_TIMEOUT, t.opt->total_timeout_s);
  curl_easy_setopt(t.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);  // a stall: under 1 byte/s for stall_timeout_s
  curl_easy_setopt(t.curl, CURLOPT_LOW_SPEED_TIME, t.opt->stall_timeout_s);
  if (t.resumed_from > 0) curl_easy_setopt(t.curl, CURLOPT_RANGE, range.c_str());
  const CURLcode rc = curl_easy_perform(t.curl);
  if (!t.checked_status) curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.status);
  const bool write_failed = std::fclose(t.file) != 0;
  t.file = nullptr;
  if (write_failed) fail("cannot write ", t.part, ": ", std::strerror(errno));
  if (t.status == 416 && t.resumed_from > 0) return Outcome::ok;  // the part file already holds the whole body
  if (t.status >= 400) {
    *why = "HTTP " + std::to_string(t.status);
    return t.status >= 500 || t.status == 429 || t.status == 408 ? Outcome::retry : Outcome::fatal;
  }
  if (rc == CURLE_OK) return Outcome::ok;
  *why = curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_PARTIAL_FILE: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR: case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
      return Outcome::retry;
    default:
      return Outcome::fatal;
  }
}
#endif

std::string percent_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += '%', out += hex[c >> 4], out += hex[c & 15];
  }
  return out;
}

}  // namespace

void download_rows(const TaskFile& f, const std::string& dest, const DownloadOptions& opt) {
  const auto& spec = f.datasets_server;
  const int64_t page = 100;
  int64_t expected = spec.at("rows").is_null() ? -1 : spec.at("rows").get<int64_t>();  // null: the first page says
  const std::string query = f.url + "?dataset=" + percent_encode(spec.at("dataset").get<std::string>()) +
                            "&config=" + percent_encode(spec.at("config").get<std::string>()) +
                            "&split=" + percent_encode(spec.at("split").get<std::string>());
  const std::string page_file = opt.data_dir + "/.partial/" + fs::path(dest).filename().string() + ".page";
  std::string out;
  for (int64_t offset = 0; expected < 0 || offset < expected; offset += page) {
    const std::string url = query + "&offset=" + std::to_string(offset) + "&length=" + std::to_string(page);
    fs::create_directories(opt.data_dir + "/.partial");
    const std::string where = effective_url(url, opt);
    download_file(url, page_file, "", opt);
    nlohmann::json j;
    try {
      j = parse_json(read_file(page_file));
    } catch (const nlohmann::json::exception& e) {
      fs::remove(page_file);
      fail(where, ": not a datasets-server rows page: ", e.what());
    }
    fs::remove(page_file);
    if (!j.contains("rows") || !j["rows"].is_array() || !j.contains("num_rows_total"))
      fail(where, ": expected {\"rows\": [...], \"num_rows_total\": N}");
    if (expected < 0) expected = j["num_rows_total"].get<int64_t>();
    if (j["num_rows_total"].get<int64_t>() != expected)
      fail(where, ": num_rows_total is ", j["num_rows_total"].get<int64_t>(), ", the task expects ", expected);
    const int64_t want = std::min(page, expected - offset);
    if (static_cast<int64_t>(j["rows"].size()) != want) fail(where, ": ", j["rows"].size(), " rows, expected ", want);
    for (size_t k = 0; k < j["rows"].size(); ++k) {
      const auto& r = j["rows"][k];
      if (r.value("row_idx", int64_t{-1}) != offset + static_cast<int64_t>(k) || !r.contains("row"))
        fail(where, ": row ", k, " is not row_idx ", offset + static_cast<int64_t>(k));
      if (r.contains("truncated_cells") && !r["truncated_cells"].empty())
        fail(where, ": row ", offset + static_cast<int64_t>(k), " has truncated cells");
      out += r["row"].dump() + "\n";
    }
    if (opt.progress) opt.progress(fs::path(dest).filename().string(), offset + want, expected);
  }
  // Complete: the file and, beside it, its own sha256 (no upstream file to pin), checked on later runs.
  write_file_atomic(dest, out);
  write_file_atomic(dest + ".sha256", sha256_hex(out) + "\n");
}

std::string effective_url(const std::string& url, const DownloadOptions& opt) {
  if (auto it = opt.url_map.find(url); it != opt.url_map.end()) return it->second;
  if (opt.mirror.empty()) return url;
  const size_t scheme = url.find("://");
  std::string rest = scheme == std::string::npos ? url : url.substr(scheme + 3);  // host/path
  std::string mirror = opt.mirror;
  while (!mirror.empty() && mirror.back() == '/') mirror.pop_back();
  return mirror + "/" + rest;
}

void download_file(const std::string& url, const std::string& dest, const std::string& sha256, const DownloadOptions& opt) {
  const std::string fetched = effective_url(url, opt);
  if (opt.offline) fail("offline: ", dest, " is missing (it comes from ", fetched, ")");
#ifdef WR_WITH_CURL
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!curl_ready) fail("libcurl failed to initialise");
  const std::string partial_dir = opt.data_dir + "/.partial";
  fs::create_directories(partial_dir);
  Transfer t;
  t.opt = &opt;
  t.label = fs::path(dest).filename().string();
  // Named after the URL and the destination, so an interrupted download resumes on the next run.
  t.part = partial_dir + "/" + t.label + "." + sha256_hex(fetched + "\n" + dest).substr(0, 12) + ".part";
  std::string why;
  for (int i = 0;; ++i) {
    Outcome o = attempt(fetched, t, &why);
    if (o == Outcome::ok) break;
    if (o == Outcome::fatal) {
      if (t.status >= 400) fs::remove(t.part);
      fail(fetched, ": ", why);
    }
    if (i >= opt.retries) fail(fetched, ": ", why, " (gave up after ", i + 1, " attempts; the partial download is kept for resuming)");
    std::this_thread::sleep_for(std::chrono::duration<double>(opt.backoff_s * std::pow(2.0, i)));
  }
  const std::string actual = sha256_file(t.part);
  if (!sha256.empty() && actual != sha256) {
    fs::remove(t.part);
    fail(fetched, ": sha256 mismatch: expected ", sha256, ", got ", actual, "; nothing was cached");
  }
  fs::create_directories(fs::path(dest).parent_path());
  rename_durably(t.part, dest);
#else
  (void)sha256;
  fail(dest, " is missing and this build has no downloader (configured with WR_WITH_CURL=OFF); fetch ", fetched);
#endif
}

std::string read_zip_member(const std::string& zip_path, const std::string& member) {
  int err = 0;
  std::unique_ptr<zip_t, int (*)(zip_t*)> zip(zip_open(zip_path.c_str(), ZIP_RDONLY, &err), zip_close);
  if (!zip) {
    zip_error_t e;
    zip_error_init_with_code(&e, err);
    std::string msg = zip_error_strerror(&e);
    zip_error_fini(&e);
    fail(zip_path, ": not a readable zip: ", msg);
  }
  std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> in(zip_fopen(zip.get(), member.c_str(), 0), zip_fclose);
  if (!in) fail(zip_path, ": no member '", member, "'");
  std::string data, buf(1 << 20, '\0');
  for (;;) {
    zip_int64_t n = zip_fread(in.get(), buf.data(), buf.size());
    if (n < 0) fail(zip_path, ": cannot read member '", member, "': ", zip_file_strerror(in.get()));
    if (n == 0) break;
    data.append(buf.data(), static_cast<size_t>(n));
  }
  return data;
}

std::vector<std::string> download_task(const TaskDef& task, const DownloadOptions& opt) {
  std::vector<std::string> fetched;
  for (const auto& sub : task.subtasks)
    for (auto& path : download_task(load_task(sub), opt)) fetched.push_back(std::move(path));
  for (const auto& f : task.files) {
    const std::string dest = opt.data_dir + "/" + f.path;
    if (file_exists(dest) && f.size >= 0 && static_cast<int64_t>(fs::file_size(dest)) != f.size) {
      if (opt.offline)
        fail("offline: ", dest, " has ", fs::file_size(dest), " bytes, expected ", f.size, " (", task.source, ")");
      fs::remove(dest);  // a stale or damaged copy is fetched again
    }
    if (file_exists(dest)) {
      std::string want = f.sha256;  // pinned, or recorded when a datasets-server download completed
      if (want.empty() && file_exists(dest + ".sha256")) want = read_file(dest + ".sha256").substr(0, 64);
      if (want.empty()) continue;
      const std::string actual = sha256_file(dest);
      if (actual == want) continue;
      if (opt.offline) fail("offline: ", dest, " has sha256 ", actual, ", expected ", want, " (", task.source, ")");
      fs::remove(dest);  // a stale or damaged copy is fetched again
    }
    if (!f.generated_by.empty())
      fail(dest, " is missing; task ", task.name, " makes it locally: ", f.generated_by);
    if (opt.offline)
      fail("offline: ", dest, " is missing (task ", task.name, ": ", effective_url(f.url, opt),
           f.zip_member.empty() ? "" : ", member " + f.zip_member, ")");
    fs::create_directories(fs::path(dest).parent_path());
    if (!f.datasets_server.is_null()) {
      download_rows(f, dest, opt);
    } else if (f.zip_member.empty()) {
      download_file(f.url, dest, f.sha256, opt);
    } else {
      // The zip is kept, so the task's other members (and other tasks' members) come from the same download.
      const std::string archive = opt.data_dir + "/.archives/" + basename_of_url(f.url);
      if (!file_exists(archive)) {
        fs::create_directories(opt.data_dir + "/.archives");
        download_file(f.url, archive, "", opt);
      }
      std::string data;
      try {
        data = read_zip_member(archive, f.zip_member);  // benchmark members are a few MB
        const std::string actual = sha256_hex(data);
        if (!f.sha256.empty() && actual != f.sha256)
          fail(effective_url(f.url, opt), " member ", f.zip_member, ": sha256 mismatch: expected ", f.sha256, ", got ",
               actual, "; nothing was cached");
      } catch (const Error&) {
        // Not kept: a wrong body (a proxy's page served with 200) or a changed zip would fail every later run.
        fs::remove(archive);
        throw;
      }
      write_file_atomic(dest, data);
    }
    if (f.size >= 0 && static_cast<int64_t>(fs::file_size(dest)) != f.size) {
      const auto got = fs::file_size(dest);
      fs::remove(dest);
      fail(effective_url(f.url, opt), ": ", got, " bytes, expected ", f.size, " (", task.source, "); nothing was cached");
    }
    fetched.push_back(dest);
  }
  return fetched;
}

}  // namespace wr
