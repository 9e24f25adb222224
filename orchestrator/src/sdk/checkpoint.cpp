// Checkpoints in torch.save's zip format, streamed to disk.
//
// torch::pickle_save builds the whole archive in a std::vector before anyone can write it:
// one extra copy of the model in memory. Here the same archive (a pickled dict whose
// tensors live in records data/0, data/1, ...) goes through PyTorchStreamWriter straight
// into a file, record by record, from each tensor's own storage.
#include <cohort/model.hpp>

#include <ATen/core/Dict.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace fs = std::filesystem;

namespace cohort {

namespace {

[[noreturn]] void fail_io(const std::string& what, const fs::path& file) {
  throw std::runtime_error(what + " " + file.string() + ": " + std::strerror(errno));
}

// Flushes a directory entry (the rename) to disk.
void sync_directory(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void save_checkpoint(const Model& model, const fs::path& file) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& t : model.tensors) {
    at::Tensor tensor = t.tensor.is_contiguous() ? t.tensor : t.tensor.contiguous();
    dict.insert(t.name, tensor);
  }

  std::vector<char> pickle_bytes;  // the pickled dict holds tensor references, not data
  torch::jit::Pickler pickler([&](const char* data, std::size_t size) {
    pickle_bytes.insert(pickle_bytes.end(), data, data + size);
  });
  pickler.protocol();
  pickler.pushIValue(c10::IValue(dict));
  pickler.stop();

  if (!file.parent_path().empty()) fs::create_directories(file.parent_path());
  const fs::path temporary = file.string() + ".partial";
  std::FILE* out = std::fopen(temporary.c_str(), "wb");
  if (!out) fail_io("cannot create", temporary);
  bool write_failed = false;
  try {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, std::size_t size) -> std::size_t {
      if (std::fwrite(data, 1, size, out) != size) write_failed = true;
      return size;
    });
    torch::jit::writeArchiveAndTensors("data", pickle_bytes.data(), pickle_bytes.size(),
                                       pickler.tensorData(), writer);
    writer.writeEndOfFile();
  } catch (...) {
    std::fclose(out);
    std::remove(temporary.c_str());
    throw;
  }
  if (write_failed || std::fflush(out) != 0 || ::fsync(fileno(out)) != 0) {
    const int saved = errno;
    std::fclose(out);
    std::remove(temporary.c_str());
    errno = saved;
    fail_io("cannot write", temporary);
  }
  std::fclose(out);
  if (std::rename(temporary.c_str(), file.c_str()) != 0) fail_io("cannot rename onto", file);
  sync_directory(file.parent_path());
}

Model load_checkpoint(const fs::path& file) {
  Model model;
  try {
    caffe2::serialize::PyTorchStreamReader reader(file.string());
    c10::IValue value = torch::jit::readArchiveAndTensors("data", "", "", c10::nullopt,
                                                          c10::nullopt, c10::nullopt, reader);
    if (!value.isGenericDict()) {
      throw std::runtime_error("it holds a " + value.tagKind() + ", not a dict of tensors");
    }
    for (const auto& entry : value.toGenericDict()) {
      if (!entry.key().isString() || !entry.value().isTensor()) {
        throw std::runtime_error("it holds a dict entry that is not name -> tensor");
      }
      model.tensors.push_back({entry.key().toStringRef(), entry.value().toTensor()});
    }
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot read checkpoint " + file.string() + ": " + e.what_without_backtrace());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot read checkpoint " + file.string() + ": " + e.what());
  }
  return model;
}

}  // namespace cohort
