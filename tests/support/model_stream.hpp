#pragma once
// The whole byte stream ModelWriter makes of a model, as a transport would write it.
#include "net/model_writer.hpp"

#include <vector>

namespace cohort::test {

inline std::vector<std::byte> written_stream(const Model& model, std::size_t chunk_bytes) {
  std::vector<std::byte> out;
  net::ModelWriter writer(model, chunk_bytes);
  while (auto piece = writer.next()) {
    for (const auto& part : *piece) out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

}  // namespace cohort::test
