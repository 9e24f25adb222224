#include <cohort/error.hpp>
#include <cohort/aggregation.hpp>
#include "memory/memory.hpp"

#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <thread>

namespace cohort {

struct WeightedAverage::State {
  struct Slot {
    TensorInfo info;
    std::int64_t element_size = 1;
    bool excluded = false;
    std::mutex mutex;
    /// Running weighted sum; made at the first contribution. Floating tensors sum in
    /// their own dtype (one model's worth of memory); integer tensors (counters) in double.
    at::Tensor sum;
    /// The reference's tensor, lent by reuse_reference(): the sum, if nothing was folded yet.
    at::Tensor lent;
    /// The sum is the reference's memory: elements [zeroed, n) still hold its values.
    bool in_place = false;
    std::int64_t zeroed = 0;
    /// Weight of the results that delivered the whole tensor.
    double weight = 0;
    /// (elements delivered, weight) of results cut off inside this tensor.
    std::vector<std::pair<std::int64_t, double>> partial;
  };

  Options options;
  std::shared_ptr<AveragePrivacy> privacy;
  /// With privacy: fills the floating sums with the noise (set_privacy to result()).
  std::thread noise;
  std::exception_ptr noise_failed;
  std::vector<std::unique_ptr<Slot>> slots;
  std::map<std::string, std::size_t, std::less<>> index;
  std::mutex mutex;
  std::size_t complete = 0;
  double total_weight = 0;
};

namespace {

/// A slot's running sum, zeroed: floating tensors sum in their own dtype, integers in double.
void allocate_sum(WeightedAverage::State::Slot& slot) {
  auto dtype = at::isFloatingType(slot.info.dtype) ? slot.info.dtype : at::kDouble;
  slot.sum = at::empty(slot.info.shape, at::TensorOptions().dtype(dtype));
  memory::prepare_for_filling(slot.sum.data_ptr(), slot.sum.nbytes());
  slot.sum.zero_();
}

/// The sum that elements [0, end) of a contribution go into: the lent reference (zeroed up
/// to `end` on the way), else an accumulator. Under the slot's lock.
at::Tensor& sum_for(WeightedAverage::State::Slot& slot, std::int64_t end) {
  if (!slot.sum.defined()) {
    if (slot.lent.defined()) {
      slot.sum = std::exchange(slot.lent, at::Tensor());
      slot.in_place = true;
    } else {
      allocate_sum(slot);
    }
  }
  if (slot.in_place && end > slot.zeroed) {
    slot.sum.view({-1}).narrow(0, slot.zeroed, end - slot.zeroed).zero_();
    slot.zeroed = end;
  }
  return slot.sum;
}

class AverageSink final : public ResultSink {
 public:
  AverageSink(std::shared_ptr<WeightedAverage::State> state, std::string site, double weight)
      : state_(std::move(state)), site_(std::move(site)), weight_(weight),
        seen_(state_->slots.size(), false) {}
  /// A sink dropped mid-tensor counts as cut off there: what it folded keeps its weight.
  ~AverageSink() override { abandon({}); }

  void begin_tensor(const TensorInfo& info) override {
    auto it = state_->index.find(info.name);
    if (it == state_->index.end()) fail("sent tensor '" + info.name + "', which the model does not have");
    auto& slot = *state_->slots[it->second];
    if (seen_[it->second]) fail("sent tensor '" + info.name + "' twice");
    if (info.dtype != slot.info.dtype || info.shape != slot.info.shape) {
      fail("sent tensor '" + info.name + "' with another dtype or shape than the global model's");
    }
    seen_[it->second] = true;
    current_ = &slot;
    received_ = 0;
  }

  void chunk_received(std::uint64_t offset, std::span<const std::byte> data) override {
    State::Slot& slot = *current_;
    if (offset != received_ || data.size() % slot.element_size != 0 ||
        offset + data.size() > slot.info.nbytes) {
      fail("sent a chunk outside tensor '" + slot.info.name + "' or out of order");
    }
    received_ += data.size();
    if (slot.excluded || weight_ == 0) return;
    const std::int64_t first = static_cast<std::int64_t>(offset) / slot.element_size;
    const std::int64_t count = static_cast<std::int64_t>(data.size()) / slot.element_size;
    at::Tensor incoming = at::from_blob(const_cast<std::byte*>(data.data()), {count},
                                        at::TensorOptions().dtype(slot.info.dtype));
    std::lock_guard lock(slot.mutex);
    sum_for(slot, first + count).view({-1}).narrow(0, first, count).add_(incoming, weight_);
  }

  void end_tensor() override {
    State::Slot& slot = *current_;
    if (received_ != slot.info.nbytes) fail("ended tensor '" + slot.info.name + "' early");
    {
      std::lock_guard lock(slot.mutex);
      slot.weight += weight_;
    }
    current_ = nullptr;
  }

  void commit() override {
    std::lock_guard lock(state_->mutex);
    ++state_->complete;
    state_->total_weight += weight_;
  }

  void abandon(const std::string&) override {
    State::Slot* slot = std::exchange(current_, nullptr);
    if (!slot || received_ == 0) return;
    std::lock_guard lock(slot->mutex);
    slot->partial.emplace_back(static_cast<std::int64_t>(received_) / slot->element_size, weight_);
  }

 private:
  using State = WeightedAverage::State;
  [[noreturn]] void fail(const std::string& what) {
    throw ProtocolError("site '" + site_ + "'", what);
  }

  std::shared_ptr<State> state_;
  std::string site_;
  double weight_;
  std::vector<bool> seen_;
  State::Slot* current_ = nullptr;
  std::uint64_t received_ = 0;
};

}  // namespace

WeightedAverage::WeightedAverage(const Model& reference, Options options)
    : state_(std::make_shared<State>()) {
  state_->options = std::move(options);
  if (!state_->options.weight) state_->options.weight = &WeightedAverage::steps_weight;
  std::vector<std::regex> excluded;
  for (const auto& pattern : state_->options.exclude_vars) excluded.emplace_back(pattern);
  for (std::size_t i = 0; i < reference.tensors.size(); ++i) {
    const auto& t = reference.tensors[i];
    auto slot = std::make_unique<State::Slot>();
    slot->info = TensorInfo{t.name, t.tensor.scalar_type(), t.tensor.sizes().vec(),
                            static_cast<std::uint64_t>(t.tensor.nbytes()), i};
    slot->element_size = static_cast<std::int64_t>(t.tensor.element_size());
    slot->excluded = std::any_of(excluded.begin(), excluded.end(),
                                 [&](const std::regex& r) { return std::regex_match(t.name, r); });
    state_->index.emplace(t.name, i);
    state_->slots.push_back(std::move(slot));
  }
  memory::note_model_bytes(reference.byte_size());
}

WeightedAverage::~WeightedAverage() {
  if (state_->noise.joinable()) state_->noise.join();
}

double WeightedAverage::steps_weight(const ResultInfo& info) {
  return info.num_steps && *info.num_steps > 0 ? static_cast<double>(*info.num_steps) : 1.0;
}

void WeightedAverage::set_privacy(std::shared_ptr<AveragePrivacy> privacy) {
  state_->privacy = std::move(privacy);
  // Each floating sum starts as the noise (times m), under its slot's lock: a result's
  // chunk for a tensor waits until that tensor's noise is drawn.
  state_->noise = std::thread([state = state_.get()] {
    try {
      for (auto& slot : state->slots) {
        if (slot->excluded || !at::isFloatingType(slot->info.dtype)) continue;
        std::lock_guard lock(slot->mutex);
        if (!slot->sum.defined()) allocate_sum(*slot);
        state->privacy->fill_noise(slot->sum);
      }
    } catch (...) {
      state->noise_failed = std::current_exception();
    }
  });
}

double WeightedAverage::weight_of(const ResultInfo& info) const {
  const double weight = state_->options.weight(info);
  return weight >= 0 ? weight : 0;  // negative or NaN weights count for nothing
}

void WeightedAverage::add_reduced(std::vector<at::Tensor> sums, double weight, std::size_t results) {
  for (std::size_t i = 0; i < sums.size() && i < state_->slots.size(); ++i) {
    if (!sums[i].defined()) continue;
    State::Slot& slot = *state_->slots[i];
    if (sums[i].sizes().vec() != slot.info.shape || !at::isFloatingType(slot.info.dtype) || sums[i].scalar_type() != slot.info.dtype)
      throw std::invalid_argument("a reduced sum of tensor '" + slot.info.name + "' of another dtype or shape");
    std::lock_guard lock(slot.mutex);
    if (slot.sum.defined()) slot.sum.add_(sums[i]);
    else slot.sum = std::move(sums[i]);
    slot.weight += weight;
  }
  std::lock_guard lock(state_->mutex);
  state_->complete += results;
  state_->total_weight += weight;
}

bool WeightedAverage::in_place() const { return state_->options.in_place && !state_->privacy; }

bool WeightedAverage::reuse_reference(const Model& reference) {
  if (!in_place()) return false;
  if (reference.tensors.size() != state_->slots.size())
    throw std::invalid_argument("reuse_reference: the model is not the average's reference");
  for (std::size_t i = 0; i < state_->slots.size(); ++i) {
    State::Slot& slot = *state_->slots[i];
    const at::Tensor& t = reference.tensors[i].tensor;
    if (slot.excluded || !at::isFloatingType(slot.info.dtype) || !t.defined() || t.scalar_type() != slot.info.dtype ||
        t.sizes().vec() != slot.info.shape || !t.is_contiguous())
      continue;
    std::lock_guard lock(slot.mutex);
    if (!slot.sum.defined()) slot.lent = t;
  }
  return true;
}

std::unique_ptr<ResultSink> WeightedAverage::open(const ResultInfo& info) {
  if (state_->privacy) return state_->privacy->wrap(info, std::make_unique<AverageSink>(state_, info.site, 1.0));
  return std::make_unique<AverageSink>(state_, info.site, weight_of(info));
}

std::size_t WeightedAverage::complete_results() const {
  std::lock_guard lock(state_->mutex);
  return state_->complete;
}

double WeightedAverage::total_weight() const {
  std::lock_guard lock(state_->mutex);
  return state_->total_weight;
}

namespace {

/// Calls `f(begin, end, weight)` for each run [begin, end) of a slot's `n` elements that the
/// same results delivered, `weight` theirs: the whole deliveries plus the cut-off ones whose
/// prefix covers the run.
template <class F>
void for_each_delivered_run(WeightedAverage::State::Slot& slot, std::int64_t n, F&& f) {
  std::sort(slot.partial.begin(), slot.partial.end());
  double partial_weight = 0;
  for (const auto& p : slot.partial) partial_weight += p.second;
  std::int64_t begin = 0;
  auto run = [&](std::int64_t end, double weight) {
    if (end <= begin) return;
    f(begin, end, weight);
    begin = end;
  };
  for (const auto& [elements, weight] : slot.partial) {
    run(std::min(elements, n), slot.weight + partial_weight);
    partial_weight -= weight;
  }
  run(n, slot.weight);
}

/// With privacy: reference + (sum of the updates + m·noise) / m, for one floating tensor
/// (its sum holds the noise and the results).
at::Tensor private_average(WeightedAverage::State& state, WeightedAverage::State::Slot& slot, const at::Tensor& previous) {
  const double m = state.privacy->denominator();
  at::Tensor flat = slot.sum.view({-1});
  const at::Tensor reference = previous.reshape({-1});
  for_each_delivered_run(slot, flat.numel(), [&](std::int64_t begin, std::int64_t end, double delivered) {
    const at::Tensor g = reference.narrow(0, begin, end - begin);
    flat.narrow(0, begin, end - begin).sub_(g, delivered).div_(m).add_(g);  // g + (Σ(x − g) + m·noise) / m
  });
  return slot.sum;
}

}  // namespace

Model WeightedAverage::result(const Model& reference) {
  if (state_->noise.joinable()) state_->noise.join();
  if (state_->noise_failed) std::rethrow_exception(std::exchange(state_->noise_failed, nullptr));
  Model out;
  out.round = reference.round;
  for (std::size_t i = 0; i < state_->slots.size(); ++i) {
    State::Slot& slot = *state_->slots[i];
    const at::Tensor& previous = reference.tensors.at(i).tensor;
    std::lock_guard lock(slot.mutex);
    slot.lent = at::Tensor();
    if (state_->privacy && !slot.excluded && at::isFloatingType(slot.info.dtype)) {
      out.tensors.push_back({slot.info.name, private_average(*state_, slot, previous)});
      slot.sum = at::Tensor();
      continue;
    }
    if (slot.excluded || state_->privacy || !slot.sum.defined() || (slot.weight == 0 && slot.partial.empty())) {
      out.tensors.push_back({slot.info.name, previous});
      slot.sum = at::Tensor();
      continue;
    }
    // Each element is divided by the weight of the results that delivered it.
    at::Tensor flat = slot.sum.view({-1});
    for_each_delivered_run(slot, flat.numel(), [&](std::int64_t begin, std::int64_t end, double weight) {
      at::Tensor part = flat.narrow(0, begin, end - begin);
      if (weight > 0) part.div_(weight);
      else if (!slot.in_place) part.copy_(previous.view({-1}).narrow(0, begin, end - begin));
      // In place, an element no result reached is still the reference's (beyond `zeroed`).
    });
    // In place: a new view, so the previous global's tensors stay told apart from the average.
    at::Tensor averaged = slot.in_place ? slot.sum.view(slot.info.shape) : slot.sum;
    if (averaged.scalar_type() != slot.info.dtype) averaged = averaged.round().to(slot.info.dtype);
    out.tensors.push_back({slot.info.name, std::move(averaged)});
    slot.sum = at::Tensor();
  }
  return out;
}

namespace {

class DropSink final : public ResultSink {
 public:
  void begin_tensor(const TensorInfo&) override {}
  void chunk_received(std::uint64_t, std::span<const std::byte>) override {}
  void commit() override {}
};

}  // namespace

std::unique_ptr<ResultSink> MetricsOnly::open(const ResultInfo&) { return std::make_unique<DropSink>(); }

void feed(Reducer& reducer, const ResultInfo& info, const Model& model, std::size_t chunk_bytes) {
  auto sink = reducer.open(info);
  for (std::size_t i = 0; i < model.tensors.size(); ++i) {
    const at::Tensor t = model.tensors[i].tensor.is_contiguous() ? model.tensors[i].tensor : model.tensors[i].tensor.contiguous();
    const TensorInfo tensor{model.tensors[i].name, t.scalar_type(), t.sizes().vec(), static_cast<std::uint64_t>(t.nbytes()), i};
    sink->begin_tensor(tensor);
    const std::size_t element = t.element_size();
    const std::size_t chunk = std::max(element, chunk_bytes / element * element);
    const auto* data = static_cast<const std::byte*>(t.data_ptr());
    for (std::uint64_t offset = 0; offset < tensor.nbytes; offset += chunk) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, tensor.nbytes - offset));
      sink->chunk_received(offset, std::span<const std::byte>(data + offset, n));
    }
    sink->end_tensor();
  }
  sink->commit();
}

}  // namespace cohort
