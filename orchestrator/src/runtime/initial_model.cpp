#include "runtime/initial_model.hpp"

#include "net/codec.hpp"
#include "process/child_process.hpp"

#include <cohort/error.hpp>
#include <cohort/plugin.hpp>

#include <c10/core/ScalarType.h>

#include <cstdlib>
#include <fstream>
#include <sstream>


namespace fs = std::filesystem;

namespace cohort::runtime {

namespace {

/// A scratch folder removed with it.
struct ScratchDir {
  ScratchDir() {
    char name[] = "/tmp/cohort-model-XXXXXX";
    if (!::mkdtemp(name)) throw IoError::from_errno(name, "create a scratch folder", errno);
    path = name;
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  fs::path path;
};

/// The last `lines` lines of `text`, indented.
std::string last_lines(const std::string& text, std::size_t lines) {
  std::vector<std::string> all;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "\n    " + all[i];
  return out;
}

/// What the class's module and the class itself came to (cohort/_export_model.py's exit
/// statuses).
std::string failure(int status) {
  switch (status) {
    case 3: return "cannot be imported";
    case 4: return "has no such class";
    case 5: return "could not be instantiated: its constructor raised";
    case 6: return "gave a state_dict() that is not a dict of tensors";
    case 7: return "gave an empty state_dict(): the model has no parameters";
    case 127: return "could not be run: is the interpreter there?";
    default: return "failed (status " + std::to_string(status) + ")";
  }
}

/// Runs the user's class once and reads the state_dict it saved.
Model python_model(const models::ModelSpec& spec) {
  const std::string named = "[model] python = \"" + spec.file.filename().string() + ":" + spec.python_class + "\"";
  ScratchDir scratch;
  const fs::path out = scratch.path / "initial.pt", log = scratch.path / "python.out";
  std::map<std::string, std::string> env{{"PYTHONDONTWRITEBYTECODE", "1"}};
  std::string path = (sdk_directory() / "cohort" / "python").string();
  if (const char* existing = std::getenv("PYTHONPATH"); existing && *existing) path += std::string(":") + existing;
  env["PYTHONPATH"] = path;
  process::ChildProcess python({spec.interpreter, "-m", "cohort._export_model", spec.file.string(), spec.python_class,
                                spec.python_kwargs, out.string()},
                               env, log);
  const int status = python.wait();
  if (status != 0) {
    std::ifstream in(log);
    std::ostringstream text;
    text << in.rdbuf();
    throw ConfigError(spec.where, named + ": " + spec.python_class + " " + failure(status) + "; the last lines:" +
                                      last_lines(text.str(), 15));
  }
  return read_tensor_file(out, spec.where);
}

}  // namespace

Model read_tensor_file(const fs::path& file, const SourceLocation& where) {
  Model model;
  try {
    model = load_checkpoint(file);
  } catch (const std::exception& e) {
    throw ConfigError(where, "[model] " + file.filename().string() +
                                 ": not what torch.save(model.state_dict(), FILE) writes (a dict of name -> tensor in "
                                 "torch.save's default zip format): " + e.what());
  }
  if (model.tensors.empty()) throw ConfigError(where, "[model] " + file.filename().string() + " holds no tensors");
  for (auto& t : model.tensors) {
    if (!net::is_wire_dtype(t.tensor.scalar_type()))
      throw ConfigError(where, "[model] " + file.filename().string() + ": tensor '" + t.name + "' is " +
                                   c10::toString(t.tensor.scalar_type()) + ", which cohort cannot carry");
    t.tensor = t.tensor.detach().contiguous();
  }
  return model;
}

std::optional<Model> make_initial_model(const models::ModelSpec& spec) {
  switch (spec.source) {
    case models::ModelSpec::Source::zoo: return models::initial_model(spec);
    case models::ModelSpec::Source::file: return read_tensor_file(spec.file, spec.where);
    case models::ModelSpec::Source::python: return python_model(spec);
    case models::ModelSpec::Source::site: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace cohort::runtime
