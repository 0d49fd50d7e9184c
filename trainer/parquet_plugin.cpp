// A tiny plugin around Arrow's parquet reader (from PyPI's pyarrow wheel), loaded by parquet_reader.cpp with
// dlopen(RTLD_LOCAL). Why a plugin: the wheel's libparquet exports the OpenSSL 3.6 it bundles (about 7,500
// unversioned symbols), which linked into wr-data would interpose on, or be interposed by, the Debian libcrypto
// that wr's SHA-256 calls; loaded privately, none of its symbols enters the process's global scope. It also keeps
// 60 MB of Arrow out of every process that links wr_data (wr-train, the tests) and lets wr build without pyarrow.
// (Its protobuf and abseil are hidden inside libarrow, so they would not clash with SentencePiece's or LibTorch's.)
// Both sides share one libstdc++, so std types cross the boundary; no exception does: every entry point catches
// and returns the message.
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>
#include <parquet/exception.h>
#include <parquet/file_reader.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace {

struct File {
  std::unique_ptr<parquet::arrow::FileReader> reader;
  std::string column;
  int leaf = -1;  // the text column's index among the file's leaf columns
};

// Runs f, turning Arrow's and Parquet's exceptions (and failed Status, thrown as ParquetStatusException by
// PARQUET_THROW_NOT_OK) into *error; returns whether f completed.
template <class F>
bool guarded(std::string* error, F&& f) {
  try {
    f();
    return true;
  } catch (const std::exception& e) {
    *error = e.what();
  } catch (...) {
    *error = "unknown error";
  }
  return false;
}

std::string column_names(const arrow::Schema& schema) {
  std::string out;
  for (const auto& f : schema.fields()) out += (out.empty() ? "" : ", ") + f->name();
  return out.empty() ? "none" : out;
}

bool is_text(arrow::Type::type id) {
  return id == arrow::Type::STRING || id == arrow::Type::LARGE_STRING || id == arrow::Type::STRING_VIEW;
}

// Appends the strings of one chunk; a null is an error naming its row (counted from the row group's start).
template <class ArrayType>
void append(const arrow::Array& chunk, int64_t first_row, const File& file, std::vector<std::string>* docs) {
  const auto& a = static_cast<const ArrayType&>(chunk);
  for (int64_t i = 0; i < a.length(); ++i) {
    if (a.IsNull(i))
      throw std::runtime_error("row " + std::to_string(first_row + i) + ": \"" + file.column + "\" is null, expected a string");
    const std::string_view v = a.GetView(i);
    docs->emplace_back(v.data(), v.size());
  }
}

}  // namespace

extern "C" {

// Opens path and finds the string column `column`; null with *error set when it cannot.
void* wr_parquet_open(const std::string* path, const std::string* column, std::string* error) {
  auto file = std::make_unique<File>();
  file->column = *column;
  std::shared_ptr<arrow::Schema> schema;
  const bool opened = guarded(error, [&] {
    parquet::ReaderProperties props;
    props.set_page_checksum_verification(true);  // pages written with a CRC are checked, as gzip members are
    parquet::arrow::FileReaderBuilder builder;
    PARQUET_THROW_NOT_OK(builder.OpenFile(*path, /*memory_map=*/false, props));
    PARQUET_ASSIGN_OR_THROW(file->reader, builder.Build());
    PARQUET_THROW_NOT_OK(file->reader->GetSchema(&schema));
  });
  if (!opened) {
    *error = "not a readable parquet file (" + *error + ")";
    return nullptr;
  }
  const auto field = schema->GetFieldByName(*column);
  if (!field) {
    *error = "no column \"" + *column + "\" (its columns: " + column_names(*schema) + "; --text-field names one)";
    return nullptr;
  }
  if (!is_text(field->type()->id())) {
    *error = "column \"" + *column + "\" holds " + field->type()->ToString() + ", expected strings";
    return nullptr;
  }
  file->leaf = file->reader->parquet_reader()->metadata()->schema()->ColumnIndex(*column);
  if (file->leaf < 0) {
    *error = "column \"" + *column + "\" is not a top-level column";
    return nullptr;
  }
  return file.release();
}

void wr_parquet_close(void* file) { delete static_cast<File*>(file); }

int wr_parquet_row_groups(void* file) { return static_cast<File*>(file)->reader->num_row_groups(); }

// Appends row group g's texts to *docs, in order; false with *error set when the row group is damaged.
bool wr_parquet_read_row_group(void* file, int g, std::vector<std::string>* docs, std::string* error) {
  auto* f = static_cast<File*>(file);
  return guarded(error, [&] {
    std::shared_ptr<arrow::Table> table;
    PARQUET_ASSIGN_OR_THROW(table, f->reader->ReadRowGroup(g, {f->leaf}));
    int64_t row = 0;
    for (const auto& chunk : table->column(0)->chunks()) {
      switch (chunk->type_id()) {
        case arrow::Type::STRING: append<arrow::StringArray>(*chunk, row, *f, docs); break;
        case arrow::Type::LARGE_STRING: append<arrow::LargeStringArray>(*chunk, row, *f, docs); break;
        case arrow::Type::STRING_VIEW: append<arrow::StringViewArray>(*chunk, row, *f, docs); break;
        default: throw std::runtime_error("the column reads as " + chunk->type()->ToString() + ", expected strings");
      }
      row += chunk->length();
    }
  });
}

}  // extern "C"
