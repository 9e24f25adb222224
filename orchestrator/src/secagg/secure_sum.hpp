#pragma once
// The server's sum of a secure round's masked uploads, modulo 2^32: one int32 accumulator
// per upload tensor (a model's worth of memory however many sites send), each chunk added
// as it arrives. A masked upload is useful only whole: one cut off (or refused) has its
// bytes taken out again, read back from a journal that each upload is written to as it
// is folded (a file of its own, unlinked, in the job's folder: page cache, not the
// server's memory), so the sum holds exactly the whole uploads.

#include "secagg/round.hpp"

#include <cohort/stream.hpp>

#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace cohort::secagg {

class SecureSum final : public Reducer {
 public:
  /// Zeroed accumulators for `layout`; journals go in `journal_folder`.
  SecureSum(std::vector<UploadTensor> layout, std::filesystem::path journal_folder);
  ~SecureSum() override;

  /// The sites whose uploads may be folded (those that shared); any other is refused.
  void allow(const std::vector<std::string>& sites);
  std::unique_ptr<ResultSink> open(const ResultInfo& info) override;

  /// The sites whose uploads are in the sum, whole, sorted.
  std::vector<std::string> whole() const;
  const std::vector<UploadTensor>& layout() const { return layout_; }
  /// Upload tensor `index`'s accumulator (int32 bits of uint32 words).
  at::Tensor& words(std::size_t index) { return slots_.at(index)->sum; }

  struct Slot {
    std::mutex mutex;
    at::Tensor sum;
  };

 private:
  friend class UploadSink;
  std::vector<UploadTensor> layout_;
  std::filesystem::path journal_folder_;
  std::vector<std::unique_ptr<Slot>> slots_;
  mutable std::mutex mutex_;
  std::set<std::string> allowed_;
  std::set<std::string> opened_;
  std::set<std::string> whole_;
};

}  // namespace cohort::secagg
