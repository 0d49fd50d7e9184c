// The harness rules that are code rather than templates, one named function per task family.
// Each takes a raw document (JSON) and returns the requests and choices of a Doc (gold is filled by the caller).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tasks/task.h"

namespace wr {

// HellaSwag (lm-eval hellaswag/utils.py): query = preprocess(activity_label + ": " + ctx_a + " " +
// capitalize(ctx_b)), choices = preprocess(ending) for each ending.
Doc preprocess_hellaswag(const nlohmann::json& doc, const std::string& delimiter);
// HellaSwag's text clean-up: " [title]" -> ". ", remove [..] tags (non-greedy), one pass of "  " -> " ";
// hellaswag_clean strips the text first (lm-eval), hellaswag_tags does not (the SmolLM suite's copy).
std::string hellaswag_clean(const std::string& text);
std::string hellaswag_tags(const std::string& text);
// HellaSwag in the SmolLM suite (huggingface/cosmopedia evaluation/lighteval_tasks.py@6d646fb hellaswag_prompt):
// query = hellaswag_tags(activity_label + ": " + ctx_a + " " + capitalize(ctx_b) + " "), which keeps its trailing
// space (moved into every continuation when scored), choices = " " + hellaswag_tags(ending).
Doc preprocess_hellaswag_lighteval(const nlohmann::json& doc, const std::string& delimiter);
// Python's str.capitalize() on ASCII: first letter upper case, the rest lower case.
std::string python_capitalize(const std::string& s);

// WinoGrande partial evaluation: one context per option, sentence[:i] + option, and one shared continuation
// " " + sentence[i+1:].strip(), where i is the index of "_".
Doc preprocess_winogrande(const nlohmann::json& doc, const std::string& delimiter);

// WinoGrande as lighteval scores it (src/lighteval/tasks/tasks_prompt_formatting.py@6041e36 winogrande): one
// context, the sentence before the blank; choices option + " " + the rest of the sentence stripped (the option
// and the whole remainder are scored, unlike lm-eval's partial evaluation).
Doc preprocess_winogrande_lighteval(const nlohmann::json& doc, const std::string& delimiter);

// LAMBADA: context = all but the last space-separated word, continuation = " " + last word.
Doc preprocess_lambada(const nlohmann::json& doc);

// COPA (lm-eval super_glue/copa, v0.4 default.yaml + utils.py): context = premise.strip() without its last
// character (the period) + " because" (question "cause") or " therefore" ("effect"); choices choice1, choice2
// as written. (lm-eval v0.3 lower-cased each choice's first letter; v0.4's doc_to_choice no longer does.)
Doc preprocess_copa(const nlohmann::json& doc, const std::string& delimiter);

// The table a definition's "preprocess" names an entry of; a name not in it is refused when the definition loads.
struct Preprocessor {
  const char* name;
  Doc (*build)(const nlohmann::json& doc, const std::string& target_delimiter);
};
const std::vector<Preprocessor>& preprocessors();
const Preprocessor* find_preprocessor(const std::string& name);  // nullptr when there is none of that name

std::string python_strip(const std::string& s);
std::string python_lstrip(const std::string& s);

}  // namespace wr
