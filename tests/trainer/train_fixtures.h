// The training tests' fixtures: shards of generated text and a tiny model's config on them.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/file.h"
#include "tests/eval/eval_fixtures.h"
#include "tests/test_util.h"
#include "trainer/tokenize_corpus.h"
#include "trainer/train.h"
#include "trainer/train_config.h"

namespace wr::test {

// JSONL of n_docs documents of `words` words each from a 10-word vocabulary, in a fixed pseudo-random order.
inline std::string word_corpus_jsonl(int n_docs, int words) {
  const char* vocabulary[] = {"cat", "dog", "sees", "likes", "the", "a", "red", "blue", "ball", "map"};
  std::string jsonl;
  for (int d = 0; d < n_docs; ++d) {
    std::string text;
    for (int w = 0; w < words; ++w) text += std::string(w ? " " : "") + vocabulary[(d * 7 + w * 3 + w * w) % 10];
    jsonl += nlohmann::json({{"text", text + "."}}).dump() + "\n";
  }
  return jsonl;
}

// Shards of generated text, tokenized with the fixture tokenizer; made once per test process, in its own folder
// (test processes run side by side, and each has its own fixture tokenizer).
inline const std::string& fixture_shards() {
  static const std::string dir = [] {
    const std::string root = std::string(WR_TEST_TMP) + "/train-shards-" + std::to_string(::getpid());
    static const wr::test::RemovedAtExit cleanup{root};
    std::filesystem::create_directories(root);
    const std::string model_path = root + "/tok.model";
    wr::write_file_atomic(model_path, wr::test::fixture_tokenizer().model_bytes());
    wr::write_file_atomic(root + "/corpus.jsonl", word_corpus_jsonl(400, 12));
    wr::TokenizeOptions opt;
    opt.inputs = {root + "/corpus.jsonl"};
    opt.tokenizer = model_path;
    opt.out_dir = root + "/shards";
    opt.val_fraction = 0.1;
    wr::tokenize_corpus(opt);
    return opt.out_dir;
  }();
  return dir;
}

// A resolved config for a 2-layer model on the fixture shards, in run directory `run_dir`.
inline nlohmann::json tiny_config(const std::string& run_dir, std::vector<std::string> overrides = {}) {
  const std::string path = run_dir + ".json";
  nlohmann::json j = {
      {"run", {{"dir", run_dir}, {"threads", 2}}},
      {"model", {{"dim", 32}, {"n_layers", 2}, {"n_heads", 4}, {"n_kv_heads", 2}, {"ffn_dim", 64},
                 {"vocab_size", wr::test::fixture_tokenizer().vocab_size()}, {"max_seq_len", 64}}},
      {"init", {{"scheme", "lir"}, {"std", 0.02}}},
      {"data", {{"dir", fixture_shards()}}},
      {"batch", {{"seq_len", 32}, {"micro_batch", 4}, {"accumulation", 2}}},
      {"optimizer", {{"lr", 1e-2}, {"min_lr", 1e-3}}},
      {"schedule", {{"steps", 12}, {"warmup_steps", 3}}},
      {"tvr", {{"enabled", true}, {"target", 0.01}, {"interval", 4}}},
      {"log", {{"interval", 1}, {"telemetry_interval", 2}}},
  };
  wr::write_file_atomic(path, j.dump());
  wr::TrainConfig c;
  return wr::resolve_train_config(path, overrides, &c);
}

// Training options that print nothing (tests read the run's files, not its log).
inline wr::TrainOptions quiet_options() {
  wr::TrainOptions o;
  o.log = [](const std::string&) {};
  return o;
}

// A port nobody listens on now, for a data-parallel test's process group rendezvous.
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// torchrun's variables for a group of two processes on the loopback interface (Gloo's too), each process's RANK=
// still to follow: "GLOO_SOCKET_IFNAME=lo WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=<a free port> ".
inline std::string two_rank_env() {
  return "GLOO_SOCKET_IFNAME=lo WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port()) + " ";
}

}  // namespace wr::test
