// TensorBoard event files: the scalars of a run as TensorBoard, and through it W&B (`wandb sync`), read them.
// A file is a sequence of TFRecords (u64 length, masked CRC-32C of the length, the data, masked CRC-32C of the
// data), each an `Event` protobuf message: the first carries file_version "brain.Event:2", the others a wall
// time, a step and a Summary with one {tag, simple_value}. A reader stops at a record cut short, so a file a
// kill -9 left is read up to the cut.
//
// The few messages are encoded by hand (protobuf's wire format: a varint key, then a varint, 4 or 8 little-endian
// bytes, or a length and bytes) rather than through libprotobuf: PyPI's LibTorch links its own protobuf into
// libtorch_cpu.so and exports some of its symbols (google::protobuf::internal::byteswap<N>, std::_Hashtable
// instantiations over google::protobuf::Descriptor types), while Debian's LibTorch uses Debian's libprotobuf.so.32;
// a second protobuf in the process is the clash that made SentencePiece a plugin (model/tokenizer/sentencepiece_shim.cpp),
// and protoc would be a new build dependency for five fields. This file does not read summaries back, write
// histograms or images, or know about TensorBoard's plugins.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace wr {

// CRC-32C (Castagnoli; reflected polynomial 0x82F63B78), the checksum TFRecord frames use.
uint32_t crc32c(std::string_view data);

// data framed as one TFRecord.
std::string tfrecord(std::string_view data);

// Writes one run's scalars into a directory (RUN/tb). Every opening writes a new events file, named after every
// earlier one of ours (TensorBoard reads a directory's files in name order), that starts with the file version,
// a SessionLog START at step 0 (a TensorBoard that read an earlier file drops what it showed of it: every step
// from 0 on) and the events kept from the newest earlier file (steps <= keep_until_step, for a resumed run; -1
// keeps none). The new file appears by rename and the earlier ones are emptied after it, so the newest file is
// always a run's whole history and a reader sees each (tag, step) once.
class EventWriter {
 public:
  EventWriter(const std::string& dir, int64_t keep_until_step);
  ~EventWriter();  // writes what flush() has not
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // Queues one scalar (stored as float32, TensorBoard's simple_value) at wall-clock time now.
  void scalar(int64_t step, const std::string& tag, double value);
  // Appends the queued events as whole records in one write.
  void flush();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::string pending_;
};

}  // namespace wr
