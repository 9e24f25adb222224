#pragma once
// The server's half of central differential privacy: what a training round's
// WeightedAverage is given (cohort::AveragePrivacy). It divides the sum of the updates by
// the sites sampled and adds N(0, σ²) to each averaged tensor; with clip_at = "server" it
// clips each update first. A site's norm is known only once its whole result is in, so
// a result streams into a file of its own (unlinked, in the job's folder: page cache, not
// the server's memory) while its norm is summed, and is folded from there, scaled, once
// it is whole: the server's memory stays the streaming fold, however many sites send at
// once. A result cut off is not folded (it counts as no update).

#include "privacy/mechanism.hpp"

#include <cohort/aggregation.hpp>

#include <atomic>
#include <filesystem>
#include <optional>

namespace cohort::privacy {

class PrivateAverage final : public AveragePrivacy {
 public:
  struct Options {
    /// The model the sites started from (the round's global model; its storage is shared).
    Model reference;
    /// Sites sampled: the denominator.
    std::size_t sampled = 1;
    /// The standard deviation of the noise on each averaged element (z·C/m).
    double noise_stddev = 0;
    /// Clip at the server to this norm (nothing: the sites clipped).
    std::optional<double> clip;
    /// Where a result waits, clipped at the server, until it is whole.
    std::filesystem::path spill_folder;
    /// The noise's seed (tests); nothing: the operating system's.
    std::optional<std::uint64_t> seed;
  };

  explicit PrivateAverage(Options options);

  std::unique_ptr<ResultSink> wrap(const ResultInfo& info, std::unique_ptr<ResultSink> fold) override;
  double denominator() const override { return static_cast<double>(options_.sampled); }
  void fill_noise(at::Tensor& sum) override;

  /// Results clipped at the server that arrived whole, and those of them whose update's
  /// norm was at or below the clipping norm (adaptive clipping's count).
  std::size_t clipped_results() const { return whole_; }
  std::size_t at_or_below_norm() const { return at_or_below_; }

 private:
  friend class ClippingSink;
  Options options_;
  GaussianNoise noise_;
  std::atomic<std::size_t> whole_{0};
  std::atomic<std::size_t> at_or_below_{0};
};

}  // namespace cohort::privacy
