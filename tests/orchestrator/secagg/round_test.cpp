// One secure round end to end without I/O: ten SiteRounds and a ServerRound exchange what
// the tasks would carry, with sites lost at every stage.
#include "secagg/server_round.hpp"
#include "secagg/site_round.hpp"

#include "support/temp_dir.hpp"

#include <cohort/aggregation.hpp>

#include <ATen/ops/rand.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <ATen/ops/tensor.h>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <set>

using namespace cohort;
using namespace cohort::secagg;

namespace {

enum Stage { keys, share, upload, cut_off, unmask_stage };

struct Drops {
  std::map<Stage, std::set<std::string>> at;
  bool has(Stage s, const std::string& site) const { return at.count(s) && at.at(s).count(site); }
};

struct Federation {
  RoundContext round{"job-7", 1, 3};
  config::SecureAggregationSettings settings;
  Model reference;
  std::vector<std::string> sites;
  std::map<std::string, Model> results;
  std::map<std::string, double> weights;
  test::TempDir journals{"cohort-secagg"};

  Federation(std::int64_t neighbours, double threshold, std::int64_t elements = 1000) {
    settings.on = true;
    settings.neighbours = neighbours;
    settings.threshold = threshold;
    settings.max_weight = 10;
    reference.tensors.push_back({"w", at::rand({elements}).sub(0.5)});
    reference.tensors.push_back({"b", at::rand({7, 3})});
    reference.tensors.push_back({"steps", at::tensor(std::vector<std::int64_t>{5, 6})});  // a counter: not uploaded
    for (int i = 0; i < 10; ++i) {
      const std::string site = "site-" + std::to_string(i);
      sites.push_back(site);
      Model r;
      r.tensors.push_back({"w", reference.tensors[0].tensor.add(at::rand({elements}).sub(0.5).mul(0.2))});
      r.tensors.push_back({"b", reference.tensors[1].tensor.add(at::rand({7, 3}).sub(0.5))});
      r.tensors.push_back({"steps", at::tensor(std::vector<std::int64_t>{50, 60})});
      results[site] = r;
      weights[site] = 1 + i;
    }
  }

  Quantizer quantizer() const { return {settings.clipping_range, settings.quantization_bits}; }

  /// The plain sum of the survivors' quantized updates, per upload tensor (weight last).
  std::vector<std::vector<std::uint32_t>> plain_sum(const std::vector<std::string>& survivors) const {
    const auto layout = upload_layout(reference);
    std::vector<std::vector<std::uint32_t>> sums;
    for (const auto& u : layout) {
      std::vector<std::uint32_t> sum(static_cast<std::size_t>(u.numel), 0);
      for (const auto& site : survivors) {
        const double ratio = std::min(weights.at(site) / settings.max_weight, 1.0);
        if (u.model_index < 0) {
          sum[0] += quantizer().quantize_weight(ratio);
          continue;
        }
        const at::Tensor x = results.at(site).tensors[u.model_index].tensor.contiguous().view({-1});
        const at::Tensor g = reference.tensors[u.model_index].tensor.contiguous().view({-1});
        for (std::int64_t e = 0; e < u.numel; ++e)
          sum[e] += quantizer().quantize(ratio * (static_cast<double>(x[e].item<float>()) - g[e].item<float>()));
      }
      sums.push_back(std::move(sum));
    }
    return sums;
  }

  struct Outcome {
    std::vector<std::string> survivors;
    std::unique_ptr<ServerRound> server;
    std::vector<std::string> refused_shares;
    std::map<std::string, Model> uploads;
  };

  /// Runs the round; a tampered share is flipped in the unmask task of `tamper_holder`.
  Outcome run(const Drops& drops, const std::string& tamper_holder = {}) {
    Outcome out;
    out.server = std::make_unique<ServerRound>(round, settings, reference, journals.path(), 42);
    ServerRound& server = *out.server;
    std::map<std::string, std::unique_ptr<SiteRound>> rounds;
    std::map<std::string, Model> answers;
    for (const auto& site : sites) {
      if (drops.has(keys, site)) continue;
      rounds[site] = std::make_unique<SiteRound>(round, site);
      answers[site] = rounds[site]->advertise();
    }
    server.take_keys(answers, {});
    answers.clear();
    for (const auto& site : server.ring())
      if (!drops.has(share, site)) answers[site] = rounds[site]->share(server.group_task(site), server.threshold());
    server.take_shares(answers, {});
    for (const auto& site : server.shared()) {
      if (drops.has(upload, site)) continue;
      Model up = rounds[site]->mask(results[site], reference, weights[site], server.peers_of(site), settings);
      if (drops.has(cut_off, site)) {
        // Half of the first tensor, then the stream stops: taken out of the sum again.
        auto sink = server.sum().open(ResultInfo{site, round.round, {}, {}});
        const at::Tensor& t = up.tensors[0].tensor;
        sink->begin_tensor(TensorInfo{up.tensors[0].name, at::kInt, t.sizes().vec(), static_cast<std::uint64_t>(t.nbytes()), 0});
        sink->chunk_received(0, std::span(static_cast<const std::byte*>(t.data_ptr()), static_cast<std::size_t>(t.nbytes() / 2 / 4 * 4)));
        sink->abandon("connection lost");
        continue;
      }
      feed(server.sum(), ResultInfo{site, round.round, {}, {}}, up);
      out.uploads[site] = std::move(up);
    }
    out.survivors = server.sum().whole();
    std::vector<std::string> dropped;
    for (const auto& s : server.shared())
      if (!std::count(out.survivors.begin(), out.survivors.end(), s)) dropped.push_back(s);
    answers.clear();
    std::vector<std::string> lost;
    for (const auto& site : out.survivors) {
      if (drops.has(unmask_stage, site)) {
        lost.push_back(site);
        continue;
      }
      Model task = server.unmask_task(site);
      if (site == tamper_holder) {
        auto& box = task.tensors.front().tensor;
        box = box.clone();
        box.data_ptr<std::uint8_t>()[20] ^= 1;
      }
      auto answer = rounds[site]->unmask(task, out.survivors, dropped);
      out.refused_shares.insert(out.refused_shares.end(), answer.refused.begin(), answer.refused.end());
      answers[site] = std::move(answer.shares);
    }
    server.take_unmasking(answers);
    server.unmask(out.survivors, lost);
    return out;
  }

  void check_exact(Outcome& out) {
    const auto expected = plain_sum(out.survivors);
    for (std::size_t ti = 0; ti < expected.size(); ++ti) {
      auto words = words_of(out.server->sum().words(ti));
      CHECK(std::vector<std::uint32_t>(words.begin(), words.end()) == expected[ti]);
    }
  }

  /// The dequantized average against the plain weighted average of the survivors.
  void check_average(Outcome& out) {
    auto reduced = out.server->reduce(reference);
    double weight = 0;
    for (const auto& s : out.survivors) weight += weights[s] / settings.max_weight;
    CHECK(reduced.weight == doctest::Approx(weight).epsilon(1e-6));
    CHECK_FALSE(reduced.sums[2].defined());  // the counter is not uploaded
    const double step = 2 * settings.clipping_range / quantizer().levels();
    for (int i = 0; i < 2; ++i) {
      at::Tensor plain = at::zeros_like(reference.tensors[i].tensor, at::kDouble);
      for (const auto& s : out.survivors) plain.add_(results[s].tensors[i].tensor.to(at::kDouble), weights[s] / settings.max_weight);
      plain.div_(weight);
      const at::Tensor secure = reduced.sums[i].to(at::kDouble).div(reduced.weight);
      // Each site's element is off by at most half a step of its quantized update; float32 sums add rounding.
      const double err = secure.sub(plain).abs().max().item<double>();
      CHECK(err < out.survivors.size() * step / weight + 1e-5);
    }
  }
};

}  // namespace

TEST_CASE("a secure round's unmasked sum is the plain sum of the quantized updates exactly, whoever drops and when") {
  for (std::int64_t neighbours : {5, 0}) {
    for (double threshold : {3.0, 0.0}) {
      if (neighbours == 0 && threshold == 3.0) continue;  // 3 of 10 is refused (not above half)
      for (Stage stage : {keys, share, upload, cut_off, unmask_stage}) {
        for (int dropped = 0; dropped <= 2; ++dropped) {
          CAPTURE(neighbours);
          CAPTURE(threshold);
          CAPTURE(static_cast<int>(stage));
          CAPTURE(dropped);
          Federation f(neighbours, threshold);
          Drops drops;
          for (int i = 0; i < dropped; ++i) drops.at[stage].insert("site-" + std::to_string(3 * i + 1));
          auto out = f.run(drops);
          const std::size_t lost_before_unmask = stage == unmask_stage ? 0 : static_cast<std::size_t>(dropped);
          CHECK(out.survivors.size() == 10 - lost_before_unmask);
          f.check_exact(out);
          f.check_average(out);
        }
      }
    }
  }
}

TEST_CASE("fewer sites than the threshold fail the round cleanly, naming the stage, the sites and the threshold") {
  SUBCASE("at the keys stage") {
    Federation f(0, 6);
    Drops drops;
    for (int i = 0; i < 5; ++i) drops.at[keys].insert("site-" + std::to_string(i));
    CHECK_THROWS_WITH_AS(f.run(drops), doctest::Contains("stage 'keys': 5 sites are left and the threshold is 6"), RoundFailure);
  }
  SUBCASE("at the unmask stage") {
    Federation f(0, 6);
    Drops drops;
    for (int i = 0; i < 5; ++i) drops.at[unmask_stage].insert("site-" + std::to_string(i));
    try {
      f.run(drops);
      FAIL("the round went on");
    } catch (const RoundFailure& e) {
      const std::string what = e.what();
      CHECK(what.find("stage 'unmask'") != std::string::npos);
      CHECK(what.find("has 5 shares") != std::string::npos);
      CHECK(what.find("the threshold is 6") != std::string::npos);
      CHECK(what.find("site-0,site-1,site-2,site-3,site-4") != std::string::npos);
    }
  }
  SUBCASE("a threshold not above half the group") {
    Federation f(0, 5);
    CHECK_THROWS_WITH_AS(f.run({}), doctest::Contains("not above half of a group of 10"), RoundFailure);
  }
}

TEST_CASE("a tampered share is refused by its holder and named, and the round still unmasks with the others") {
  Federation f(0, 6);
  auto out = f.run({}, "site-4");
  REQUIRE(out.refused_shares.size() == 1);
  f.check_exact(out);
}

TEST_CASE("a site answers one unmask request a round, and never for both of a site's secrets") {
  RoundContext round{"j", 0, 0};
  SiteRound a(round, "a"), b(round, "b"), c(round, "c");
  Model group;
  for (auto* s : {&a, &b, &c}) {
    auto keys = s->advertise();
    const std::string name = s == &a ? "a" : s == &b ? "b" : "c";
    group.tensors.push_back({"c_pk/" + name, keys.tensors[0].tensor});
    group.tensors.push_back({"s_pk/" + name, keys.tensors[1].tensor});
  }
  a.share(group, 2);
  CHECK_THROWS_AS(a.unmask({}, {"a", "b"}, {"b"}), std::invalid_argument);
  CHECK_THROWS_AS(a.unmask({}, {"b", "c"}, {"a"}), std::invalid_argument);
  a.unmask({}, {"a", "b"}, {"c"});
  CHECK_THROWS_AS(a.unmask({}, {"a", "b", "c"}, {}), std::invalid_argument);
}

TEST_CASE("an upload as the server sees it is not the quantized update, and its bytes pass a chi-square test for uniform") {
  Federation f(5, 3, 100000);
  auto out = f.run({});
  const auto expected = f.plain_sum({"site-2"});
  const at::Tensor& t = out.uploads.at("site-2").tensors[0].tensor;
  const auto* words = static_cast<const std::uint32_t*>(t.data_ptr());
  std::size_t equal = 0;
  for (std::size_t e = 0; e < expected[0].size(); ++e) equal += words[e] == expected[0][e];
  CHECK(equal < 10);  // a word matches by chance with probability 2^-32
  std::array<double, 256> counts{};
  const auto* bytes = static_cast<const std::uint8_t*>(t.data_ptr());
  const auto n = static_cast<std::size_t>(t.nbytes());
  for (std::size_t i = 0; i < n; ++i) counts[bytes[i]] += 1;
  double chi2 = 0;
  const double e = static_cast<double>(n) / 256;
  for (double c : counts) chi2 += (c - e) * (c - e) / e;
  CHECK(chi2 < 330.5);  // 255 degrees of freedom: p = 0.001
}
