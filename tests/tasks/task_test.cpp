#include "tasks/task.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "common/error.h"
#include "common/file.h"
#include "tasks/preprocess.h"
#include "tests/test_util.h"

namespace {

using wr::test::contains;
using wr::test::error_of;

void write(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << content;
}

// ---- every definition parses and knows its harness rules ----

TEST(TaskDefs, AllLoadAndNameTheirRules) {
  auto names = wr::task_names();
  EXPECT_GE(names.size(), 10u);
  for (const auto& n : names) {
    auto t = wr::load_task(n);
    EXPECT_EQ(t.definition, n);
    EXPECT_EQ(t.name, n.substr(n.rfind('/') + 1));  // "lighteval/piqa" is the task piqa under those rules
    EXPECT_FALSE(t.harness.empty()) << n;
    EXPECT_FALSE(t.metrics.empty()) << n;
    EXPECT_NE(t.files.empty(), t.subtasks.empty()) << n;  // a task has files, a group has subtasks
    for (const auto& sub : t.subtasks) EXPECT_FALSE(wr::load_task(sub).files.empty()) << sub;
  }
}

TEST(TaskDefs, UnknownTaskSuggestsTheClosest) {
  auto err = error_of([] { wr::load_task("arc_esay"); });
  EXPECT_TRUE(contains(err, "unknown task 'arc_esay' (did you mean arc_easy?)")) << err;
}

// WR_TASKS_DIR for the lifetime of one test.
struct TasksDir {
  explicit TasksDir(const std::string& dir) { setenv("WR_TASKS_DIR", dir.c_str(), 1); }
  ~TasksDir() { unsetenv("WR_TASKS_DIR"); }
};

// A user's folder adds tasks beside the compiled-in ones and replaces those of the same name.
TEST(TaskDefs, UserFolderAddsAndReplacesTasks) {
  const std::string dir = wr::test::temp_dir();
  nlohmann::json mine = wr::load_task("piqa").json;
  mine["task"] = "my_piqa";
  write(dir + "/defs/my_piqa.json", mine.dump());
  nlohmann::json arc = wr::load_task("arc_easy").json;
  arc["description"] = "a lab's own ARC-Easy";
  write(dir + "/defs/arc_easy.json", arc.dump());
  write(dir + "/defs/notes.txt", "not a definition");
  TasksDir tasks(dir + "/defs");
  const auto names = wr::task_names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "my_piqa"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "arc_easy"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "hellaswag"), 1);
  EXPECT_EQ(wr::load_task("my_piqa").source, dir + "/defs/my_piqa.json");
  EXPECT_EQ(wr::load_task("arc_easy").description, "a lab's own ARC-Easy");
  write(dir + "/data/piqa/valid.jsonl", R"({"goal": "g", "sol1": "a", "sol2": "b"})" "\n");
  write(dir + "/data/piqa/valid-labels.lst", "1\n");
  const auto docs = wr::build_docs(wr::load_task("my_piqa"), dir + "/data");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].requests[1].continuation, " b");
  EXPECT_EQ(docs[0].gold, 1);
  write(dir + "/defs/broken.json", "{\"task\": ");
  EXPECT_TRUE(contains(error_of([] { wr::load_task("broken"); }), dir + "/defs/broken.json: not valid JSON")) << dir;
}

TEST(TaskDefs, WrTasksDirThatIsNoFolderIsNamed) {
  TasksDir tasks("/nonexistent/wr-tasks");
  EXPECT_EQ(error_of([] { wr::load_task("piqa"); }), "WR_TASKS_DIR=/nonexistent/wr-tasks: not a directory");
}

// Every key is checked when a definition loads, nested ones too, and so are the names it uses (preprocessor,
// format, metrics): one line naming the file and the key, before any file is read or anything scored.
TEST(TaskDefs, DefinitionsAreCheckedWhenTheyLoad) {
  const std::string dir = wr::test::temp_dir();
  const std::string path = dir + "/t.json";
  const nlohmann::json good = [] {
    nlohmann::json j = wr::load_task("hellaswag").json;
    j["task"] = "t";
    return j;
  }();
  auto error_with = [&](const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json j = good;
    change(j);
    write(path, j.dump());
    TasksDir tasks(dir);
    return error_of([] { wr::load_task("t"); });
  };
  EXPECT_EQ(error_with([](nlohmann::json&) {}), "");
  EXPECT_EQ(error_with([](nlohmann::json& j) { j["files"][0]["sah256"] = j["files"][0]["sha256"]; }),
            path + ": unknown key 'files[].sah256' (did you mean 'sha256'?)");
  EXPECT_EQ(error_with([](nlohmann::json& j) { j["metadata"]["verison"] = 2; }),
            path + ": unknown key 'metadata.verison' (did you mean 'version'?)");
  EXPECT_EQ(error_with([](nlohmann::json& j) { j["doc_to_target"]["minsu"] = 1; }),
            path + ": unknown key 'doc_to_target.minsu' (did you mean 'minus'?)");
  EXPECT_EQ(error_with([](nlohmann::json& j) { j["target_delimter"] = " "; }),
            path + ": unknown key 'target_delimter' (did you mean 'target_delimiter'?)");
  EXPECT_EQ(error_with([](nlohmann::json& j) { j["preprocess"] = "hellaswg"; }),
            path + ": unknown preprocess 'hellaswg' (did you mean 'hellaswag'?)");
  EXPECT_EQ(error_with([](nlohmann::json& j) { j["format"] = "jsnl"; }), path + ": unknown format 'jsnl' (did you mean 'jsonl'?)");
  EXPECT_EQ(error_with([](nlohmann::json& j) { j["metric_list"] = {"acc", "acc_nrom"}; }),
            path + ": unknown metric 'acc_nrom' (did you mean 'acc_norm'?)");
  // a missing key is named, not the JSON library's out_of_range
  EXPECT_EQ(error_with([](nlohmann::json& j) { j.erase("metadata"); }), path + ": missing key 'metadata.version'");
  EXPECT_EQ(error_with([](nlohmann::json& j) { j["metadata"].erase("harness"); }), path + ": missing key 'metadata.harness'");
  EXPECT_EQ(error_with([](nlohmann::json& j) { j["files"][0].erase("path"); }), path + ": files[]: missing key 'path'");
  // paths stay inside the data directory; sizes are byte counts
  for (const char* escape : {"../../../../etc/passwd", "/etc/passwd", "a/../../b.jsonl", ""})
    EXPECT_EQ(error_with([&](nlohmann::json& j) { j["files"][0]["path"] = escape; }),
              path + ": file path \"" + escape + "\" must be relative to the data directory, without \"..\"");
  for (const nlohmann::json& size : {nlohmann::json(-5), nlohmann::json(1e300), nlohmann::json("5")})
    EXPECT_TRUE(contains(error_with([&](nlohmann::json& j) { j["files"][0]["size"] = size; }), path + ": size of "))
        << size.dump();
}

// The headline a comparison reports (issue 32): a field of each definition, checked as it loads against the
// definition's own metrics; a formulation that reports another metric says so (lighteval's HellaSwag).
TEST(TaskDefs, HeadlineIsAFieldCheckedWhenTheDefinitionLoads) {
  auto headline = [](const std::string& name) {
    const auto h = wr::load_task(name).headline;
    return h.metric + "/" + h.prediction;
  };
  EXPECT_EQ(headline("hellaswag"), "acc_norm/pred_norm");
  EXPECT_EQ(headline("lighteval/hellaswag"), "acc_norm_nospace/pred_norm_nospace");
  EXPECT_EQ(headline("piqa"), "acc/pred");
  EXPECT_EQ(headline("lighteval/piqa"), "acc/pred");  // included with piqa's files and templates
  EXPECT_EQ(headline("lambada_openai"), "acc/is_greedy");
  EXPECT_EQ(headline("triviaqa"), "exact_match/exact_match");
  EXPECT_EQ(headline("lighteval/triviaqa"), "quasi_exact_match/quasi_exact_match");
  EXPECT_EQ(headline("mmlu"), "acc/pred");
  EXPECT_EQ(headline("lighteval/mmlu_anatomy"), "acc/pred");
  for (const auto& name : wr::task_names()) EXPECT_FALSE(wr::load_task(name).headline.metric.empty()) << name;

  const std::string dir = wr::test::temp_dir();
  const std::string path = dir + "/t.json";
  auto error_with = [&](const std::string& base, const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json j = wr::load_task(base).json;
    j["task"] = "t";
    change(j);
    write(path, j.dump());
    TasksDir tasks(dir);
    return error_of([] { wr::load_task("t"); });
  };
  EXPECT_EQ(error_with("hellaswag", [](nlohmann::json&) {}), "");
  EXPECT_TRUE(contains(error_with("hellaswag", [](nlohmann::json& j) { j.erase("headline"); }), path + ": needs 'headline'"));
  EXPECT_EQ(error_with("hellaswag", [](nlohmann::json& j) { j["headline"]["metrc"] = "acc"; }),
            path + ": unknown key 'headline.metrc' (did you mean 'metric'?)");
  EXPECT_EQ(error_with("hellaswag", [](nlohmann::json& j) { j["headline"].erase("prediction"); }),
            path + ": 'headline' needs 'prediction' (a string)");
  EXPECT_EQ(error_with("hellaswag", [](nlohmann::json& j) { j["headline"] = "acc_norm"; }),
            path + ": 'headline' needs 'metric' (a string)");
  EXPECT_EQ(error_with("hellaswag", [](nlohmann::json& j) { j["headline"]["metric"] = "acc_norm_nospace"; }),
            path + ": headline.metric 'acc_norm_nospace' is not in metric_list (acc, acc_norm)");
  EXPECT_EQ(error_with("hellaswag", [](nlohmann::json& j) { j["headline"]["prediction"] = "pred"; }),
            path + ": headline.prediction 'pred' is not what acc_norm counts (pred_norm)");
  EXPECT_EQ(error_with("lambada_openai", [](nlohmann::json& j) { j["headline"]["metric"] = "perplexity"; }),
            path + ": headline.metric 'perplexity' is not an accuracy (one of acc, acc_norm, acc_norm_nospace, "
                   "exact_match, quasi_exact_match)");
}

// ---- the real files: counts and hand-worked requests ----

struct Count {
  const char* task;
  size_t docs;
};

TEST(RealFiles, EveryTaskParsesItsFullSplit) {
  WR_REQUIRE_SHARED("datasets/README.md");
  const Count counts[] = {{"arc_easy", 2376},   {"arc_challenge", 1172}, {"piqa", 1838},       {"social_iqa", 1954},
                          {"winogrande", 1267}, {"sciq", 1000},          {"openbookqa", 500},  {"boolq", 3270},
                          {"lambada_openai", 5153}, {"hellaswag_llamacpp", 10042}};
  for (const auto& c : counts) {
    auto t = wr::load_task(c.task);
    // the pinned sha256 of each file matches the real one
    for (const auto& f : t.files) {
      if (!f.sha256.empty()) {
        EXPECT_EQ(wr::sha256_file(wr::test::shared_path("datasets/" + f.path)), f.sha256) << f.path;
      }
    }
    auto docs = wr::build_docs(t, wr::test::shared_path("datasets"));
    EXPECT_EQ(docs.size(), c.docs) << c.task;
  }
}

TEST(RealFiles, ArcFirstItemNumericLabelsAndOddChoiceCounts) {
  WR_REQUIRE_SHARED("datasets/arc/ARC-Easy-Test.jsonl");
  auto docs = wr::build_docs(wr::load_task("arc_easy"), wr::test::shared_path("datasets"));
  const auto& d0 = docs[0];
  EXPECT_EQ(d0.requests[0].context,
            "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:");
  EXPECT_EQ(d0.requests[0].continuation, " Sunlight is the source of energy for nearly all ecosystems.");
  EXPECT_EQ(d0.choices.size(), 4u);
  EXPECT_EQ(d0.gold, 0);
  EXPECT_EQ(docs[14].gold, 1);  // answerKey "2" with labels 1-4
  EXPECT_EQ(docs[93].choices.size(), 3u);
  EXPECT_EQ(docs[93].gold, 1);
  EXPECT_EQ(docs[93].choices[1], "increase");
  EXPECT_EQ(docs[500].choices.size(), 5u);
  EXPECT_EQ(docs[500].choices[docs[500].gold], "oxygen");
}

TEST(RealFiles, WinograndePartialScoring) {
  WR_REQUIRE_SHARED("datasets/winogrande/dev.jsonl");
  auto docs = wr::build_docs(wr::load_task("winogrande"), wr::test::shared_path("datasets"), 2);
  // "Sarah was a much better surgeon than Maria so _ always got the easier cases.", answer 2
  EXPECT_EQ(docs[0].requests[0].context, "Sarah was a much better surgeon than Maria so Sarah");
  EXPECT_EQ(docs[0].requests[1].context, "Sarah was a much better surgeon than Maria so Maria");
  EXPECT_EQ(docs[0].requests[0].continuation, " always got the easier cases.");
  EXPECT_EQ(docs[0].requests[1].continuation, " always got the easier cases.");
  EXPECT_EQ(docs[0].gold, 1);
  EXPECT_EQ(docs[1].gold, 0);
}

TEST(RealFiles, BoolqPiqaSiqaSciqLambada) {
  WR_REQUIRE_SHARED("datasets/README.md");
  const auto dir = wr::test::shared_path("datasets");
  auto boolq = wr::build_docs(wr::load_task("boolq"), dir, 1);
  EXPECT_EQ(boolq[0].requests[0].context.substr(0, 52), "Ethanol fuel -- All biomass goes through at least so");
  EXPECT_TRUE(contains(boolq[0].requests[0].context, "\nQuestion: does ethanol take more energy make that produces?\nAnswer:"));
  EXPECT_EQ(boolq[0].requests[0].continuation, " no");
  EXPECT_EQ(boolq[0].gold, 0);  // label "false"
  auto piqa = wr::build_docs(wr::load_task("piqa"), dir, 2);
  EXPECT_EQ(piqa[0].requests[0].context, "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:");
  EXPECT_EQ(piqa[0].gold, 0);
  EXPECT_EQ(piqa[1].gold, 1);
  EXPECT_EQ(piqa[1].requests[1].continuation, " finish, woodgrain with  bobby pin ");  // kept verbatim
  auto siqa = wr::build_docs(wr::load_task("social_iqa"), dir, 1);
  EXPECT_EQ(siqa[0].requests[0].context,
            "Q: Tracy didn't go home that evening and resisted Riley's attacks. What does Tracy need to do before this?\nA:");
  EXPECT_EQ(siqa[0].gold, 2);  // label 3
  auto sciq = wr::build_docs(wr::load_task("sciq"), dir, 1);
  EXPECT_EQ(sciq[0].gold, 3);
  EXPECT_EQ(sciq[0].requests[3].continuation, " oxidants");
  EXPECT_TRUE(contains(sciq[0].requests[0].context,
                       "\nQuestion: Compounds that are capable of accepting electrons, such as o 2 or f2, are called what?\nAnswer:"));
  auto lambada = wr::build_docs(wr::load_task("lambada_openai"), dir, 1);
  ASSERT_EQ(lambada[0].requests.size(), 1u);
  EXPECT_EQ(lambada[0].requests[0].continuation, " signs");
  EXPECT_EQ(lambada[0].requests[0].context.substr(lambada[0].requests[0].context.size() - 18), "I don't care about");
}

// ---- preprocessors: hand-worked against Python's semantics ----

TEST(Preprocess, HellaswagQueryAndBracketCases) {
  nlohmann::json doc = {{"activity_label", "Roof shingle removal"},
                        {"ctx_a", "A man is sitting on a roof."},
                        {"ctx_b", "he"},
                        {"endings", {"is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
                                     "is holding a rubik's cube.", "starts pulling up roofing on a roof."}},
                        {"label", 3}};
  auto d = wr::preprocess_hellaswag(doc, " ");
  EXPECT_EQ(d.requests[0].context, "Roof shingle removal: A man is sitting on a roof. He");
  EXPECT_EQ(d.requests[3].continuation, " starts pulling up roofing on a roof.");
  // expected values from Python: text.strip(); .replace(" [title]", ". "); re.sub("\\[.*?\\]", "", ...); .replace("  ", " ")
  EXPECT_EQ(wr::hellaswag_clean("[header] How to make tea [title] Boil water.  Then  pour"),
            " How to make tea. Boil water. Then pour");
  EXPECT_EQ(wr::hellaswag_clean("  a [b] c   d [e]f "), "a c  d f");
  EXPECT_EQ(wr::hellaswag_clean("x [step] y [title] z"), "x y. z");
  EXPECT_EQ(wr::python_capitalize("he Is"), "He is");
}

// ---- malformed input: a clear error with file and line ----

class Malformed : public ::testing::Test {
 protected:
  std::string dir = wr::test::temp_dir();
  std::string arc = dir + "/arc/ARC-Easy-Test.jsonl";
  const std::string good =
      R"({"question":{"stem":"Q?","choices":[{"text":"a","label":"A"},{"text":"b","label":"B"}]},"answerKey":"B"})";
  std::string build(const std::string& task) {
    return error_of([&] { wr::build_docs(wr::load_task(task), dir); });
  }
};

TEST_F(Malformed, BadJsonLineNamesFileAndLine) {
  write(arc, good + "\n{\"question\": \n");
  auto err = build("arc_easy");
  EXPECT_TRUE(contains(err, arc + ":2: invalid JSON line")) << err;
  // A number beyond a double is the JSON library's out_of_range, not its parse_error (found by fuzz_safetensors
  // and fuzz_task_definition): still one line naming file and line.
  write(arc, good + "\n{\"question\": 1e999}\n");
  err = build("arc_easy");
  EXPECT_TRUE(contains(err, arc + ":2: invalid JSON line") && contains(err, "number overflow")) << err;
}

TEST_F(Malformed, MissingFieldAndUnknownAnswer) {
  write(arc, good + "\n" + R"({"question":{"stem":"Q?"},"answerKey":"A"})" + "\n");
  auto err = build("arc_easy");
  EXPECT_TRUE(contains(err, "document 2") && contains(err, "missing field 'choices'")) << err;
  write(arc, R"({"question":{"stem":"Q?","choices":[{"text":"a","label":"A"}]},"answerKey":"E"})");
  err = build("arc_easy");
  EXPECT_TRUE(contains(err, "answer 'E' is not among the choice labels")) << err;
}

TEST_F(Malformed, EmptyChoices) {
  write(arc, R"({"question":{"stem":"Q?","choices":[]},"answerKey":"A"})");
  auto err = build("arc_easy");
  EXPECT_TRUE(contains(err, arc) && contains(err, "no choices")) << err;
}

TEST_F(Malformed, LabelsFileOutOfRangeOrMisaligned) {
  write(dir + "/piqa/valid.jsonl", R"({"goal":"g","sol1":"a","sol2":"b"})" "\n" R"({"goal":"h","sol1":"a","sol2":"b"})" "\n");
  write(dir + "/piqa/valid-labels.lst", "0\n5\n");
  auto err = build("piqa");
  EXPECT_TRUE(contains(err, "document 2") && contains(err, "gold index 5 is out of range")) << err;
  write(dir + "/piqa/valid-labels.lst", "0\n");
  err = build("piqa");
  EXPECT_TRUE(contains(err, "valid-labels.lst: 1 labels for 2 documents")) << err;
}

// What a spreadsheet or Windows does to a file (a UTF-8 BOM, CRLF line ends) changes nothing that is scored, in the
// JSON lines and in llama.cpp's HellaSwag lines alike; bytes that are not UTF-8 are an error naming file and line.
TEST_F(Malformed, BomAndCrlfAreTextEncodingNotContent) {
  const std::string hs = dir + "/hellaswag/hellaswag_val_full.txt";
  const std::string hs_lines = "A man is sitting on a roof. he\n1\nstarts.\nis using wrap.\nholds.\nleaves.\n";
  write(arc, good + "\n" + good + "\n");
  write(hs, hs_lines);
  const auto arc_plain = wr::build_docs(wr::load_task("arc_easy"), dir);
  const auto hs_plain = wr::build_docs(wr::load_task("hellaswag_llamacpp"), dir);
  auto crlf = [](std::string t) {
    for (size_t i = 0; (i = t.find('\n', i)) != std::string::npos; i += 2) t.insert(i, "\r");
    return t;
  };
  write(arc, "\xEF\xBB\xBF" + crlf(good + "\n" + good + "\n"));
  write(hs, "\xEF\xBB\xBF" + crlf(hs_lines));
  const auto arc_edited = wr::build_docs(wr::load_task("arc_easy"), dir);
  const auto hs_edited = wr::build_docs(wr::load_task("hellaswag_llamacpp"), dir);
  ASSERT_EQ(arc_edited.size(), 2u);
  ASSERT_EQ(hs_edited.size(), 1u);
  for (size_t r = 0; r < hs_plain[0].requests.size(); ++r) {
    EXPECT_EQ(hs_edited[0].requests[r].context, hs_plain[0].requests[r].context);
    EXPECT_EQ(hs_edited[0].requests[r].continuation, hs_plain[0].requests[r].continuation);
  }
  EXPECT_EQ(hs_edited[0].gold, hs_plain[0].gold);
  EXPECT_EQ(arc_edited[1].requests[1].continuation, arc_plain[1].requests[1].continuation);
  EXPECT_EQ(arc_edited[0].requests[0].context, arc_plain[0].requests[0].context);

  write(hs, "A man \xC3\x28 is sitting. he\n1\na\nb\nc\nd\n");
  auto err = build("hellaswag_llamacpp");
  EXPECT_TRUE(contains(err, hs + ":1: not UTF-8 text")) << err;
  write(arc, good + "\n" + R"({"question":{"stem":"Q)" "\xFF" R"(?","choices":[{"text":"a","label":"A"}]},"answerKey":"A"})" "\n");
  err = build("arc_easy");
  EXPECT_TRUE(contains(err, arc + ":2: invalid JSON line") && contains(err, "UTF-8")) << err;
}

TEST_F(Malformed, MissingFileSaysHowToGetIt) {
  auto err = build("sciq");
  EXPECT_TRUE(contains(err, dir + "/sciq/test.json") && contains(err, "wr-eval tasks download sciq")) << err;
}

// Random corruptions of valid lines: build_docs either succeeds or throws wr::Error, nothing else.
TEST_F(Malformed, RandomizedCorruptionNeverCrashes) {
  std::mt19937 rng(2025);
  const std::string base = good + "\n" + good + "\n";
  for (int iter = 0; iter < 300; ++iter) {
    std::string s = base;
    int edits = 1 + rng() % 4;
    for (int e = 0; e < edits && !s.empty(); ++e) {
      size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0: s.erase(pos, 1 + rng() % 8); break;
        case 1: s.insert(pos, 1, static_cast<char>(rng() % 256)); break;
        default: s[pos] = "{}[]\":,AB0\n"[rng() % 11];
      }
    }
    write(arc, s);
    try {
      wr::build_docs(wr::load_task("arc_easy"), dir);
    } catch (const wr::Error&) {
    } catch (const std::exception& e) {
      FAIL() << "non-wr error on input " << nlohmann::json(s).dump() << ": " << e.what();
    }
  }
}

}  // namespace

// ---- tasks whose files are not in ../shared: the first items of the original files, written out ----

TEST(Fixtures, CopaConnectorAndChoices) {
  const std::string dir = wr::test::temp_dir();
  write(dir + "/copa/val.jsonl",
        R"({"premise": "The man turned on the faucet.", "choice1": "The toilet filled with water.", "choice2": "Water flowed from the spout.", "question": "effect", "idx": 0, "label": 1})"
        "\n"
        R"({"premise": "The girl found a bug in her cereal. ", "choice1": "She poured milk in the bowl.", "choice2": "She lost her appetite.", "question": "effect", "idx": 1, "label": 1})"
        "\n"
        R"({"premise": "My body cast a shadow over the grass.", "choice1": "The sun was rising.", "choice2": "The grass was cut.", "question": "cause", "idx": 2, "label": 0})"
        "\n");
  auto docs = wr::build_docs(wr::load_task("copa"), dir);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].requests[0].context, "The man turned on the faucet therefore");
  EXPECT_EQ(docs[0].requests[1].continuation, " Water flowed from the spout.");
  EXPECT_EQ(docs[0].gold, 1);
  EXPECT_EQ(docs[1].requests[0].context, "The girl found a bug in her cereal therefore");  // strip, then drop the period
  EXPECT_EQ(docs[2].requests[0].context, "My body cast a shadow over the grass because");
  EXPECT_EQ(docs[2].gold, 0);
  write(dir + "/copa/val.jsonl", R"({"premise": "x.", "choice1": "a", "choice2": "b", "question": "why", "label": 0})" "\n");
  auto e = error_of([&] { wr::build_docs(wr::load_task("copa"), dir); });
  EXPECT_TRUE(contains(e, "val.jsonl") && contains(e, "cause")) << e;
}

TEST(Fixtures, CommonsenseQaLettersInThePrompt) {
  const std::string dir = wr::test::temp_dir();
  write(dir + "/commonsense_qa/dev_rand_split.jsonl",
        R"({"answerKey": "A", "id": "1afa02df02c908a558b4036e80242fac", "question": {"question_concept": "revolving door", "choices": [{"label": "A", "text": "bank"}, {"label": "B", "text": "library"}, {"label": "C", "text": "department store"}, {"label": "D", "text": "mall"}, {"label": "E", "text": "new york"}], "stem": "A revolving door is convenient for two direction travel, but it also serves as a security measure at a what?"}})"
        "\n");
  auto docs = wr::build_docs(wr::load_task("commonsense_qa"), dir);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].requests[0].context,
            "Question: A revolving door is convenient for two direction travel, but it also serves as a security measure at a what?\n"
            "A. bank\nB. library\nC. department store\nD. mall\nE. new york\nAnswer:");
  ASSERT_EQ(docs[0].requests.size(), 5u);
  EXPECT_EQ(docs[0].requests[4].continuation, " E");
  EXPECT_EQ(docs[0].gold, 0);
}

TEST(Fixtures, MmluGroupAndSubtaskPrompt) {
  auto group = wr::load_task("mmlu");
  ASSERT_EQ(group.subtasks.size(), 57u);
  std::map<std::string, int> per_category;
  for (const auto& [sub, cat] : group.category_of) per_category[cat]++;
  EXPECT_EQ(per_category, (std::map<std::string, int>{{"humanities", 13}, {"other", 13}, {"social_sciences", 12}, {"stem", 19}}));
  auto sub = wr::load_task("mmlu_high_school_us_history");
  EXPECT_EQ(sub.files[0].path, "mmlu/high_school_us_history.jsonl");
  EXPECT_EQ(sub.files[0].datasets_server["config"], "high_school_us_history");
  const std::string dir = wr::test::temp_dir();
  write(dir + "/mmlu/anatomy.jsonl",
        R"({"question": "What is the embryological origin of the hyoid bone? ", "subject": "anatomy", "choices": ["The first pharyngeal arch", "The first and second pharyngeal arches", "The second pharyngeal arch", "The second and third pharyngeal arches"], "answer": 3})"
        "\n");
  auto docs = wr::build_docs(wr::load_task("mmlu_anatomy"), dir);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].requests[0].context,
            "The following are multiple choice questions (with answers) about anatomy.\n\n"
            "What is the embryological origin of the hyoid bone?\nA. The first pharyngeal arch\n"
            "B. The first and second pharyngeal arches\nC. The second pharyngeal arch\n"
            "D. The second and third pharyngeal arches\nAnswer:");
  EXPECT_EQ(docs[0].requests[3].continuation, " D");
  EXPECT_EQ(docs[0].gold, 3);
  EXPECT_TRUE(contains(error_of([&] { wr::build_docs(group, dir); }), "group of 57"));
  EXPECT_TRUE(contains(error_of([] { wr::load_task("mmlu_anatomyy"); }), "unknown task"));
}

TEST(Fixtures, FewShotContextsFollowTheHarnessLayout) {
  const std::string dir = wr::test::temp_dir();
  std::string lines;
  for (int i = 0; i < 6; ++i)
    lines += nlohmann::json({{"goal", "g" + std::to_string(i)}, {"sol1", "a" + std::to_string(i)}, {"sol2", "b" + std::to_string(i)}}).dump() + "\n";
  write(dir + "/piqa/valid.jsonl", lines);
  write(dir + "/piqa/valid-labels.lst", "0\n1\n0\n1\n0\n1\n");
  const auto task = wr::load_task("piqa");
  const auto pool = wr::build_docs(task, dir);
  auto docs = wr::build_docs(task, dir, 2);
  wr::add_fewshot(docs, pool, task, 2, 1234);
  for (const auto& d : docs) {
    // "Question: gX\nAnswer: <gold solution of X>\n\nQuestion: gY\nAnswer: <gold of Y>\n\nQuestion: g<d>\nAnswer:"
    const std::string& c = d.requests[0].context;
    EXPECT_EQ(c, d.requests[1].context);  // every request of a document gets the same shots
    const std::string own = "\n\nQuestion: g" + std::to_string(d.id) + "\nAnswer:";
    EXPECT_TRUE(c.size() > own.size() && c.substr(c.size() - own.size()) == own) << c;
    EXPECT_EQ(std::count(c.begin(), c.end(), '?'), 0);
    size_t shots = 0;
    for (const auto& e : pool) {
      const std::string shot = "Question: g" + std::to_string(e.id) + "\nAnswer: " + (e.gold == 0 ? "a" : "b") + std::to_string(e.id) + "\n\n";
      if (contains(c, shot)) {
        EXPECT_NE(e.id, d.id);  // never the document itself
        ++shots;
      }
    }
    EXPECT_EQ(shots, 2u) << c;
  }
  // Deterministic per document and seed, whatever the limit.
  auto all = wr::build_docs(task, dir);
  wr::add_fewshot(all, pool, task, 2, 1234);
  EXPECT_EQ(all[1].requests[0].context, docs[1].requests[0].context);
  auto e = error_of([&] { wr::add_fewshot(all, pool, task, 6, 1); });
  EXPECT_TRUE(contains(e, "needs 6 other documents")) << e;
}

// --sample: n distinct documents of the split, in file order, the same for a seed on every call, others for
// another seed; a sample at least the split's size is the whole split.
TEST(Fixtures, SeededSampleIsAStableSubsetInFileOrder) {
  std::vector<wr::Doc> all(50);
  for (size_t i = 0; i < all.size(); ++i) all[i].id = static_cast<int64_t>(i);
  auto ids = [](const std::vector<wr::Doc>& docs) {
    std::vector<int64_t> v;
    for (const auto& d : docs) v.push_back(d.id);
    return v;
  };
  const auto a = ids(wr::sample_docs(all, 10, 7));
  ASSERT_EQ(a.size(), 10u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), 10u);
  EXPECT_EQ(ids(wr::sample_docs(all, 10, 7)), a);
  EXPECT_NE(ids(wr::sample_docs(all, 10, 8)), a);
  EXPECT_NE(a, ids(std::vector<wr::Doc>(all.begin(), all.begin() + 10)));  // not the first ten
  EXPECT_EQ(ids(wr::sample_docs(all, 50, 7)), ids(all));
  EXPECT_EQ(ids(wr::sample_docs(all, 80, 7)), ids(all));
  // Draws spread over the split: over many seeds every document is drawn, each about 10/50 of the time.
  std::vector<int> drawn(all.size());
  for (uint64_t seed = 0; seed < 2000; ++seed)
    for (int64_t id : ids(wr::sample_docs(all, 10, seed))) ++drawn[static_cast<size_t>(id)];
  for (int n : drawn) EXPECT_NEAR(n, 400, 80);
}
