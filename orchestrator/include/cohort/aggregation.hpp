#pragma once
/// @file aggregation.hpp
/// Streaming weighted averaging: the reducer FedAvg, FedOpt and Swarm use.
///
/// Results are folded into one accumulator as their chunks arrive, so the memory a
/// round needs is one model (the accumulator) however many sites answer; with in-place
/// aggregation (Options::in_place) the accumulator is the previous global model's own
/// memory, once the server lends it, and the round needs no second model.
///
/// Semantics of a result cut off mid-upload: every element of the average is the
/// weighted mean over the results that delivered that element whole. A site whose
/// upload stops after k bytes of a tensor still counts, with its full weight, for the
/// elements in those k bytes (complete chunks only) and for the tensors it sent before;
/// it does not count for anything after. An element no result delivered keeps the
/// reference (previous global) value. For a site that delivers nothing past its
/// header, this is exactly "discard the site".

#include <cohort/export.hpp>
#include <cohort/stream.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

namespace cohort {

/// Differential privacy of an average (a recipe's `[privacy]`): the server's job runner
/// gives one to the WeightedAverage of each training broadcast (set_privacy); controllers
/// do nothing. With one, every result weighs 1, the sum of the updates (result minus
/// reference) is divided by denominator() whatever number of results arrive (a site that
/// sends nothing counts as no update), and every averaged floating tensor gets the noise;
/// integer tensors (counters) keep the reference's values. The noise does not depend on the
/// results, so it is drawn while the sites train: set_privacy() starts a thread that fills
/// each tensor's sum with it (times the denominator) before any result is folded there.
class AveragePrivacy {
 public:
  virtual ~AveragePrivacy() = default;
  /// The sink one result streams into: `fold` itself, or a sink that clips the update
  /// before it passes the stream on to `fold`.
  virtual std::unique_ptr<ResultSink> wrap(const ResultInfo& info, std::unique_ptr<ResultSink> fold) = 0;
  /// What the sum of the updates is divided by: the number of sites sampled.
  virtual double denominator() const = 0;
  /// Fills `sum` (a tensor's sum of results, before any is added) with the noise times
  /// denominator(). Called on the average's own thread, one tensor after another.
  virtual void fill_noise(at::Tensor& sum) = 0;
};

/// Weighted average of result models, computed as results stream in.
class COHORT_API WeightedAverage final : public Reducer {
 public:
  struct Options {
    /// Weight of a result; the default is its num_steps (1 when missing or not positive).
    std::function<double(const ResultInfo&)> weight;
    /// Tensors whose name matches one of these (ECMAScript regex, whole name) are not
    /// averaged: they keep the reference value.
    std::vector<std::string> exclude_vars;
    /// The previous global model's memory may hold the sums once the server lends it
    /// (reuse_reference): the controller reads the reference only through result() after
    /// the broadcast, and persists it only as a file (the server links the one on disk).
    /// FedAvg sets it; FedOpt, which steps from the previous global, does not.
    bool in_place = false;
  };

  /// `reference` gives names, shapes and dtypes, and the values kept where no result
  /// contributes. Only its metadata is copied; its tensors are not retained.
  WeightedAverage(const Model& reference, Options options);
  ~WeightedAverage() override;

  std::unique_ptr<ResultSink> open(const ResultInfo& info) override;

  /// Makes the average differentially private (see AveragePrivacy); call before open().
  void set_privacy(std::shared_ptr<AveragePrivacy> privacy);

  /// The weight the options give a result of `info`. Secure aggregation asks it of a site's
  /// result without steps: the factor the site multiplies its own steps' weight by.
  double weight_of(const ResultInfo& info) const;
  /// Adds the sums of results reduced elsewhere (secure aggregation: the server unmasks
  /// the sum of the sites' weighted results): `sums[i]` is Σ weight · result of tensor i,
  /// in the tensor's dtype (undefined: no result gave it), `weight` the weights' sum,
  /// `results` how many. A sum is adopted, not copied, where nothing was folded yet.
  void add_reduced(std::vector<at::Tensor> sums, double weight, std::size_t results);

  /// In-place aggregation: the server calls this once every site has `reference` on the
  /// wire and it is on disk. Each floating tensor nothing was folded into yet takes the
  /// reference's memory as its sum, zeroed a chunk at a time as results arrive (elements no
  /// result reached keep the reference's values); the others keep their accumulator, so
  /// the average is the same to the bit either way. Returns false, taking nothing, without
  /// Options::in_place or with privacy. From a true return on, the reference's bytes are
  /// the average's: its tensors are views of them, and result() returns new views.
  bool reuse_reference(const Model& reference);
  /// Whether reuse_reference() would take the reference: Options::in_place, no privacy.
  bool in_place() const;

  /// Number of results that arrived whole.
  std::size_t complete_results() const;
  /// Sum of the weights of whole results.
  double total_weight() const;

  /// Finishes the average into the accumulator's own storage and returns it; elements
  /// no result delivered are taken from `reference`. Call once, after the broadcast.
  Model result(const Model& reference);

  /// The default weight: num_steps when positive, else 1.
  static double steps_weight(const ResultInfo& info);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

/// Streams a whole in-memory model into `reducer` as if it had arrived over the wire
/// (chunk by chunk from its tensors' storage): for results produced locally.
COHORT_API void feed(Reducer& reducer, const ResultInfo& info, const Model& model, std::size_t chunk_bytes = 1u << 20);

/// A reducer for tasks whose results are only metrics ("validate"): tensors, if any, are
/// read and dropped; the broadcast outcome still lists every result's metrics.
class COHORT_API MetricsOnly final : public Reducer {
 public:
  std::unique_ptr<ResultSink> open(const ResultInfo& info) override;
};

}  // namespace cohort
