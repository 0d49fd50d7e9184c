#include "model/io/state_dict.h"

#include <algorithm>

#include "common/error.h"
#include "model/io/mapped_file.h"

namespace wr {
namespace {

// dst.copy_(src) (bf16 and f16 converted to dst's dtype here) 16 MB of src at a time, each stretch's pages given
// back once copied when src is a view of a mapped file: a load holds the model and 16 MB of the file, not the
// model and its largest tensor (an embedding matrix can be a fifth of a model).
void copy_releasing(torch::Tensor& dst, const torch::Tensor& src) {
  torch::NoGradGuard no_grad;
  if (!dst.is_contiguous() || !src.is_contiguous()) {
    dst.copy_(src);
    release_if_mapped(src);
    return;
  }
  const auto to = dst.view({-1}), from = src.view({-1});
  const int64_t n = from.numel(), step = std::max<int64_t>(1, (int64_t{16} << 20) / src.element_size());
  for (int64_t at = 0; at < n; at += step) {
    const auto piece = from.narrow(0, at, std::min(step, n - at));
    to.narrow(0, at, piece.numel()).copy_(piece);
    release_if_mapped(piece);
  }
}

}  // namespace

StateDict state_dict(Llama& model) {
  StateDict out;
  for (const auto& p : model->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

StateDictLoader::StateDictLoader(Llama& model) {
  for (auto& p : model->named_parameters()) params_.emplace_back(p.key(), p.value());
}

void StateDictLoader::copy(const std::map<std::string, torch::Tensor>& part, const std::string& source) {
  // Everything is checked before anything is copied, in the model's order: the first fault named is the first
  // parameter's, as a reader of the config would look for it.
  size_t known = 0;
  for (const auto& [name, p] : params_) {
    auto it = part.find(name);
    if (it == part.end()) continue;
    ++known;
    const auto& t = it->second;
    if (!t.is_floating_point())  // copy_ would convert integers silently
      fail(source, ": tensor ", name, " has dtype ", t.dtype(), ", expected floating point weights");
    if (t.sizes() != p.sizes())
      fail(source, ": tensor ", name, " has shape ", t.sizes(), ", the config implies ", p.sizes());
  }
  if (known != part.size())
    for (const auto& entry : part)
      if (std::none_of(params_.begin(), params_.end(), [&](const auto& p) { return p.first == entry.first; }))
        fail(source, ": unexpected tensor ", entry.first, " (not part of this model config)");
  for (auto& [name, p] : params_) {
    auto it = part.find(name);
    if (it == part.end()) continue;
    copy_releasing(p, it->second);
    copied_.insert(name);
  }
}

void StateDictLoader::finish(const std::string& source) const {
  for (const auto& [name, p] : params_)
    if (!copied_.count(name)) fail(source, ": missing tensor ", name);
}

void load_state_dict(Llama& model, const std::map<std::string, torch::Tensor>& tensors, const std::string& source) {
  // A missing tensor is named before any other fault, and before anything is copied.
  for (const auto& p : model->named_parameters())
    if (!tensors.count(p.key())) fail(source, ": missing tensor ", p.key());
  StateDictLoader loader(model);
  loader.copy(tensors, source);
}

}  // namespace wr
