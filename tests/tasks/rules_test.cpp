// Rule sets as data (tasks/rules/*.json) and the lighteval rule set's task formulations, with the requests they
// build on real documents checked against the strings lighteval's prompt functions produce (quoted from
// lighteval 6041e36 and cosmopedia 6d646fb in each test).
#include "tasks/rules.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "tasks/preprocess.h"
#include "tasks/task.h"
#include "tests/test_util.h"

namespace {

using wr::test::contains;
using wr::test::error_of;

std::vector<wr::Doc> lighteval_docs(const std::string& task, int64_t limit) {
  const auto rules = wr::load_rules("lighteval");
  return wr::build_docs(wr::load_task(rules.definition_of(task)), wr::test::shared_path("datasets"), limit);
}

TEST(RuleSets, BothLoadWithTheirFileHash) {
  EXPECT_EQ(wr::rule_set_names(), (std::vector<std::string>{"lighteval", "lm-eval"}));
  const auto lm = wr::load_rules("lm-eval"), lv = wr::load_rules("lighteval");
  EXPECT_EQ(lm.definitions, "");
  EXPECT_EQ(lv.definitions, "lighteval");
  EXPECT_EQ(lm.group_mean, wr::GroupMean::kWeightBySize);
  EXPECT_EQ(lv.group_mean, wr::GroupMean::kMeanOfSubtasks);
  for (const auto& r : {lm, lv}) {
    EXPECT_EQ(r.context_whitespace, wr::ContextWhitespace::kMoveToContinuation) << r.name;
    EXPECT_EQ(r.continuation_tokens, wr::ContinuationTokens::kSliceOfWhole) << r.name;
    EXPECT_EQ(r.sha256.size(), 64u);
    EXPECT_EQ(r.id(), r.name + " sha256:" + r.sha256.substr(0, 12));
  }
  EXPECT_NE(lm.sha256, lv.sha256);
  EXPECT_TRUE(contains(error_of([] { wr::load_rules("lightevel"); }), "unknown rule set 'lightevel' (did you mean lighteval?)"));
}

TEST(RuleSets, DefinitionOfATaskUnderTheRules) {
  const auto lm = wr::load_rules("lm-eval"), lv = wr::load_rules("lighteval");
  EXPECT_EQ(lm.definition_of("piqa"), "piqa");
  EXPECT_EQ(lv.definition_of("piqa"), "lighteval/piqa");
  EXPECT_EQ(lv.definition_of("mmlu_anatomy"), "lighteval/mmlu_anatomy");  // a group's subtask
  const auto sub = wr::load_task(lv.definition_of("mmlu_anatomy"));
  EXPECT_EQ(sub.name, "mmlu_anatomy");
  EXPECT_EQ(sub.json.at("doc_to_text"), "The following are questions about anatomy.\nQuestion: {question}\nAnswer:");
  // a task the SmolLM suite does not have is an error, never lm-eval's formulation in disguise
  const auto e = error_of([&] { lv.definition_of("lambada_openai"); });
  EXPECT_TRUE(contains(e, "the lighteval rules have no formulation of task 'lambada_openai'")) << e;
  EXPECT_TRUE(contains(e, "piqa")) << e;
}

// The headline of a results row by the task name wr-eval writes: a task, a group's subtask, a group's mean over
// a category (mmlu_stem: the group's), and nothing for a row no definition has (wr-train's "val" loss).
TEST(RuleSets, HeadlineOfAResultsRow) {
  const auto lm = wr::load_rules("lm-eval"), lv = wr::load_rules("lighteval");
  auto metric = [](const wr::RuleSet& r, const std::string& task) {
    const auto h = r.headline_of(task);
    return h ? h->metric + "/" + h->prediction : std::string("none");
  };
  EXPECT_EQ(metric(lm, "hellaswag"), "acc_norm/pred_norm");
  EXPECT_EQ(metric(lv, "hellaswag"), "acc_norm_nospace/pred_norm_nospace");
  EXPECT_EQ(metric(lm, "hellaswag_llamacpp"), "acc_norm/pred_norm");
  EXPECT_EQ(metric(lm, "arc_challenge"), "acc/pred");
  EXPECT_EQ(metric(lm, "mmlu_anatomy"), "acc/pred");
  EXPECT_EQ(metric(lv, "mmlu_anatomy"), "acc/pred");
  EXPECT_EQ(metric(lm, "mmlu_stem"), "acc/pred");
  EXPECT_EQ(metric(lv, "mmlu_social_sciences"), "acc/pred");
  EXPECT_EQ(metric(lm, "mmlu"), "acc/pred");
  EXPECT_EQ(metric(lv, "triviaqa"), "quasi_exact_match/quasi_exact_match");
  EXPECT_EQ(metric(lm, "val"), "none");
  EXPECT_EQ(metric(lm, "mmlu_no_such_subject"), "none");
  EXPECT_EQ(metric(lv, "lambada_openai"), "none");  // lighteval has no formulation of it
}

// Every lighteval formulation names the lighteval / cosmopedia file it follows and reports lighteval's metrics.
TEST(RuleSets, LightevalFormulationsNameTheirSource) {
  int n = 0;
  for (const auto& name : wr::task_names()) {
    if (name.rfind("lighteval/", 0) != 0) continue;
    ++n;
    const auto t = wr::load_task(name);
    EXPECT_TRUE(contains(t.harness, "cosmopedia 6d646fb") || contains(t.harness, "lighteval 6041e36")) << name;
    if (t.generative) {
      EXPECT_EQ(t.metrics, std::vector<std::string>{"quasi_exact_match"});
    } else if (t.subtasks.empty()) {
      EXPECT_EQ(t.metrics, (std::vector<std::string>{"acc", "acc_norm_nospace"})) << name;
    }
  }
  EXPECT_EQ(n, 11);
}

// ---- "include": a definition built on another ----

TEST(Include, ArcChallengeIsArcEasyWithItsOwnFile) {
  const auto easy = wr::load_task("arc_easy"), challenge = wr::load_task("arc_challenge");
  EXPECT_EQ(challenge.json.at("doc_to_text"), easy.json.at("doc_to_text"));
  EXPECT_EQ(challenge.metrics, easy.metrics);
  EXPECT_EQ(challenge.files[0].path, "arc/ARC-Challenge-Test.jsonl");
  EXPECT_FALSE(challenge.json.contains("include"));
}

struct TasksDir {
  explicit TasksDir(const std::string& dir) { setenv("WR_TASKS_DIR", dir.c_str(), 1); }
  ~TasksDir() { unsetenv("WR_TASKS_DIR"); }
};

TEST(Include, CyclesAndUnknownNamesAreErrors) {
  const std::string dir = wr::test::temp_dir() + "/include";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/a.json") << R"({"task": "a", "include": "b"})";
  std::ofstream(dir + "/b.json") << R"({"task": "b", "include": "a"})";
  std::ofstream(dir + "/c.json") << R"({"task": "c", "include": "no_such_task"})";
  TasksDir env(dir);
  auto e = error_of([] { wr::load_task("a"); });
  EXPECT_TRUE(contains(e, "'include' makes a cycle (a -> b -> a)")) << e;
  e = error_of([] { wr::load_task("c"); });
  EXPECT_TRUE(contains(e, dir + "/c.json: 'include' names 'no_such_task', which is not a task definition")) << e;
}

// A definition's formulation is typed when it loads: a gold rule or template that cannot work is an error naming
// the file before any document is read.
TEST(Include, FormulationCheckedWhenItLoads) {
  const std::string dir = wr::test::temp_dir() + "/formulation";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/t.json") << R"({"task": "t", "include": "piqa", "doc_to_target": {"index_of": "answerKey"}})";
  std::ofstream(dir + "/u.json") << R"({"task": "u", "include": "piqa", "doc_to_target": {"colour": 1}})";
  TasksDir env(dir);
  auto e = error_of([] { wr::load_task("t"); });
  EXPECT_TRUE(contains(e, dir + "/t.json: doc_to_target: 'index_of' needs 'in'")) << e;
  e = error_of([] { wr::load_task("u"); });
  EXPECT_TRUE(contains(e, dir + "/u.json: unknown key 'doc_to_target.colour'")) << e;
  const auto piqa = wr::load_task("piqa");  // the typed form of a compiled-in definition
  EXPECT_EQ(piqa.form.doc_to_text, "Question: {goal}\nAnswer:");
  EXPECT_EQ(piqa.form.choice_templates, (std::vector<std::string>{"{sol1}", "{sol2}"}));
  EXPECT_EQ(piqa.form.gold.kind, wr::GoldRule::Kind::label);
  EXPECT_EQ(piqa.form.labels_file, "piqa/valid-labels.lst");
}

// ---- the lighteval formulations on real documents ----

// piqa_harness (tasks_prompt_formatting.py:1802): query f"Question: {goal}\nAnswer:", choices f" {sol1}", f" {sol2}"
TEST(Lighteval, PiqaRequests) {
  WR_REQUIRE_SHARED("datasets/piqa/valid.jsonl");
  const auto d = lighteval_docs("piqa", 1)[0];
  ASSERT_EQ(d.requests.size(), 2u);
  EXPECT_EQ(d.requests[0].context, "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:");
  EXPECT_EQ(d.requests[0].continuation, " Provide the guinea pig with a cage full of a few inches of bedding made of "
                                        "ripped paper strips, you will also need to supply it with a water bottle and a food dish.");
  EXPECT_EQ(d.choices[0], d.requests[0].continuation);  // acc_norm_nospace drops this leading space
  EXPECT_EQ(d.gold, 0);
}

// cosmopedia siqa_prompt (CP:202): query context + " " + question, choices f" {c}", gold label - 1
TEST(Lighteval, SiqaRequests) {
  WR_REQUIRE_SHARED("datasets/siqa/dev.jsonl");
  const auto d = lighteval_docs("social_iqa", 1)[0];
  EXPECT_EQ(d.requests[0].context,
            "Tracy didn't go home that evening and resisted Riley's attacks. What does Tracy need to do before this?");
  EXPECT_EQ(d.requests[2].continuation, " Find somewhere to go");
  EXPECT_EQ(d.gold, 2);
}

// winogrande (tasks_prompt_formatting.py:2352): query = sentence before "_", choices option + " " + rest.strip()
TEST(Lighteval, WinograndeScoresOptionAndRestAfterThePrefix) {
  WR_REQUIRE_SHARED("datasets/winogrande/dev.jsonl");
  const auto d = lighteval_docs("winogrande", 1)[0];
  ASSERT_EQ(d.requests.size(), 2u);
  for (const auto& r : d.requests) EXPECT_EQ(r.context, "Sarah was a much better surgeon than Maria so ");
  EXPECT_EQ(d.requests[0].continuation, "Sarah always got the easier cases.");
  EXPECT_EQ(d.requests[1].continuation, "Maria always got the easier cases.");
  EXPECT_EQ(d.gold, 1);
  // lighteval's split("_") into two parts: a second blank is an error, not a silent guess
  EXPECT_THROW(wr::preprocess_winogrande_lighteval({{"sentence", "a _ b _ c"}, {"option1", "x"}, {"option2", "y"}}, ""),
               wr::Error);
}

// openbookqa: the validation split (dev.jsonl), query = question_stem alone
TEST(Lighteval, OpenbookqaScoresTheValidationSplit) {
  WR_REQUIRE_SHARED("datasets/openbookqa/dev.jsonl");
  const auto docs = lighteval_docs("openbookqa", 0);
  EXPECT_EQ(docs.size(), 500u);
  EXPECT_EQ(docs[0].requests[0].context,
            "Frilled sharks and angler fish live far beneath the surface of the ocean, which is why they are known as");
  EXPECT_EQ(docs[0].requests[0].continuation, " Deep sea animals");
}

// cosmopedia hellaswag_prompt (CP:212): no strip, so the query keeps its trailing space; endings get " " first
TEST(Lighteval, HellaswagKeepsTheTrailingSpace) {
  const nlohmann::json doc = {{"activity_label", "Removing ice from car"},
                              {"ctx_a", "Then, the man writes over the snow covering the window of a car, and a woman wearing winter clothes smiles."},
                              {"ctx_b", "then"},
                              {"endings", {", the man adds wax to the windshield and cuts it.", "[header] How to x [title] Do y."}}};
  const auto d = wr::preprocess_hellaswag_lighteval(doc, "");
  EXPECT_EQ(d.requests[0].context,
            "Removing ice from car: Then, the man writes over the snow covering the window of a car, and a woman "
            "wearing winter clothes smiles. Then ");
  EXPECT_EQ(d.requests[0].continuation, " , the man adds wax to the windshield and cuts it.");
  EXPECT_EQ(d.requests[1].continuation, "  How to x. Do y.");  // the tag removed, its space kept; no strip
  // lm-eval's preprocessing strips and has no trailing space
  const auto lm = wr::preprocess_hellaswag(doc, " ");
  EXPECT_EQ(lm.requests[0].context.back(), 'n');
}

// triviaqa (tasks_prompt_formatting.py:2184) and quasi_exact_match_triviaqa: at most 20 tokens, no "?"
TEST(Lighteval, TriviaqaGeneration) {
  const auto t = wr::load_task(wr::load_rules("lighteval").definition_of("triviaqa"));
  EXPECT_TRUE(t.generative);
  EXPECT_EQ(t.max_gen_toks, 20);
  EXPECT_EQ(t.until, (std::vector<std::string>{"\n", ".", ","}));
  EXPECT_EQ(t.json.at("doc_to_text"), "Question: {question}\nAnswer:");
}

}  // namespace
