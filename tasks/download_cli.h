// The command-line face of downloads, shared by every tool that fetches task files (wr-eval, wr-train): one
// option table and one DownloadOptions builder, so the tools cannot drift apart.
#pragma once
#include <string>
#include <vector>

#include "common/cli.h"
#include "tasks/download.h"

namespace wr {

// A tool's option table with --offline, --mirror and --url-map (and their environment variables) inserted
// before its last entry, --help, which stays last in the usage.
std::vector<Option> with_download_options(std::vector<Option> own);

// The DownloadOptions those options give for data_dir; a progress line on stderr when it is a terminal. A
// --url-map file that is not a JSON object of URL -> URL is an error naming it.
DownloadOptions download_options_from_args(const Args& args, const std::string& data_dir);

}  // namespace wr
