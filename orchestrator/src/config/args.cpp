#include "config/args_impl.hpp"
#include "config/suggest.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

namespace cohort {

namespace config {

SourceLocation location_of(const toml::source_region& src, const std::string& file) {
  // An override's node names its `--set` argument, which has no lines.
  if (src.path && *src.path != file) return SourceLocation{*src.path, 0, 0};
  return SourceLocation{file, static_cast<int>(src.begin.line), static_cast<int>(src.begin.column)};
}

SourceLocation location_of(const toml::node& node, const std::string& file) { return location_of(node.source(), file); }

Args make_args(std::shared_ptr<const toml::table> document, const toml::table* table,
               std::string file, std::string path, SourceLocation where, const Args::Impl* parent) {
  auto impl = std::make_shared<Args::Impl>();
  if (parent) impl->named_files = parent->named_files;
  impl->document = std::move(document);
  impl->table = table;
  impl->file = std::move(file);
  impl->path = std::move(path);
  impl->where = std::move(where);
  return Args(std::move(impl));
}

}  // namespace config

namespace {

std::string type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

template <class T>
std::string toml_literal(const T& value) {
  std::ostringstream out;
  out << toml::value<T>(value);
  return out.str();
}

std::string literal(bool v) { return v ? "true" : "false"; }
std::string literal(std::int64_t v) { return std::to_string(v); }
std::string literal(int v) { return std::to_string(v); }
std::string literal(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);  // shortest round trip
  std::string text(buffer, end);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}
std::string literal(const std::string& v) { return toml_literal(v); }
template <class T>
std::string literal(const std::vector<T>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + literal(v[i]);
  return out + "]";
}
std::string literal(const std::map<std::string, double>& v) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, x] : v) {
    out += (first ? " " : ", ") + toml_literal(k) + " = " + literal(x);
    first = false;
  }
  return out + (v.empty() ? "}" : " }");
}

std::string number_text(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace

Args::Args(SourceLocation where, std::string path) : impl_(std::make_shared<Impl>()) {
  impl_->file = where.file;
  impl_->where = std::move(where);
  impl_->path = std::move(path);
}
Args::Args(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Args::~Args() = default;
Args::Args(const Args&) = default;
Args& Args::operator=(const Args&) = default;

const std::string& Args::path() const { return impl_->path; }

bool Args::has(std::string_view key) const {
  if (std::find(impl_->known.begin(), impl_->known.end(), key) == impl_->known.end())
    impl_->known.emplace_back(key);
  return impl_->table && impl_->table->contains(key);
}

SourceLocation Args::where(std::string_view key) const {
  if (!key.empty() && impl_->table) {
    if (const toml::node* node = impl_->table->get(key)) {
      return config::location_of(*node, impl_->file);
    }
  }
  return impl_->where;
}

void Args::fail(std::string_view key, const std::string& message) const {
  std::string name = impl_->path;
  if (!key.empty()) name += (name.empty() ? "" : ".") + std::string(key);
  throw ConfigError(where(key), name + ": " + message);
}

void Args::reject(std::string_view key, const std::string& why) const {
  if (impl_->table && impl_->table->contains(key)) fail(key, "reserved key: " + why);
}

void Args::finish() const {
  if (!impl_->table) return;
  for (const auto& [key, node] : *impl_->table) {
    const std::string name(key.str());
    if (std::find(impl_->known.begin(), impl_->known.end(), name) != impl_->known.end()) continue;
    std::string where_text = impl_->path.empty() ? "the top level" : "[" + impl_->path + "]";
    throw ConfigError(config::location_of(key.source(), impl_->file), "unknown key '" + name + "' in " + where_text +
                          config::did_you_mean(name, impl_->known));
  }
}

std::vector<std::pair<std::string, std::string>> Args::resolved() const {
  return impl_->resolved;
}

std::filesystem::path Args::file(std::string_view key, Carry carry) const {
  return file(key, required<std::string>(key), carry);
}

std::string Args::json_table(std::string_view key) const {
  if (!has(key)) return "{}";
  const toml::node* node = impl_->table->get(key);
  if (!node->is_table()) fail(key, "expected a table, found " + type_name(*node));
  std::ostringstream out;
  out << toml::json_formatter{*node->as_table()};
  return out.str();
}

std::filesystem::path Args::file(std::string_view key, std::string_view path_text, Carry carry) const {
  namespace fs = std::filesystem;
  const fs::path named{std::string(path_text)};
  const bool relative = named.is_relative();
  const fs::path path = relative ? fs::absolute(fs::path(impl_->file).parent_path() / named).lexically_normal() : named;
  if (!fs::is_regular_file(path)) fail(key, "'" + path.string() + "' is not a file");
  if (relative) impl_->named_files->push_back(NamedFile{path, carry == with_its_folder, where(key)});
  return path;
}

std::vector<NamedFile> Args::named_files() const { return *impl_->named_files; }

Args Args::table(std::string_view key) const {
  std::string path = impl_->path.empty() ? std::string(key) : impl_->path + "." + std::string(key);
  if (!has(key)) {
    Args absent(where(), path);
    absent.impl_->named_files = impl_->named_files;
    return absent;
  }
  const toml::node* node = impl_->table->get(key);
  if (!node->is_table()) fail(key, "expected a table, found " + type_name(*node));
  return config::make_args(impl_->document, node->as_table(), impl_->file, path,
                           config::location_of(*node, impl_->file), impl_.get());
}

std::vector<Args> Args::tables(std::string_view key) const {
  std::vector<Args> out;
  if (!has(key)) return out;
  const toml::node* node = impl_->table->get(key);
  if (!node->is_array_of_tables()) fail(key, "expected an array of tables ([[" + std::string(key) + "]])");
  const std::string base = impl_->path.empty() ? std::string(key) : impl_->path + "." + std::string(key);
  std::size_t i = 0;
  for (const auto& entry : *node->as_array()) {
    out.push_back(config::make_args(impl_->document, entry.as_table(), impl_->file,
                                    base + "[" + std::to_string(i++) + "]", config::location_of(entry, impl_->file),
                                    impl_.get()));
  }
  return out;
}

std::string Args::choice(std::string_view key, std::string_view fallback,
                         std::initializer_list<std::string_view> choices) const {
  const auto value = get<std::string>(key, std::string(fallback));
  for (const auto& c : choices) {
    if (value == c) return value;
  }
  std::string list;
  std::size_t i = 0;
  for (const auto& c : choices) {
    list += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + ("\"" + std::string(c) + "\"");
    ++i;
  }
  fail(key, "expected " + list + ", found \"" + value + "\"");
}

std::chrono::milliseconds Args::seconds(std::string_view key, std::chrono::milliseconds fallback, Range range) const {
  const double s = get<double>(key, static_cast<double>(fallback.count()) / 1000.0, range);
  return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000.0));
}

namespace {

// Converts one node to T or says what was expected.
struct Convert {
  const Args& args;
  std::string_view key;
  Range range;

  void check_range(const toml::node& node, double v) const {
    if (v < range.min || v > range.max) {
      std::string bounds;
      if (std::isinf(range.max)) bounds = "at least " + number_text(range.min);
      else if (std::isinf(range.min)) bounds = "at most " + number_text(range.max);
      else bounds = "between " + number_text(range.min) + " and " + number_text(range.max);
      args.fail(key, "value " + number_text(v) + " is out of range: expected " + bounds);
    }
  }
  [[noreturn]] void expected(const toml::node& node, const std::string& what) const {
    args.fail(key, "expected " + what + ", found " + type_name(node));
  }

  void operator()(const toml::node& n, bool& out) const {
    if (!n.is_boolean()) expected(n, "a boolean (true or false)");
    out = n.as_boolean()->get();
  }
  void operator()(const toml::node& n, std::int64_t& out) const {
    if (!n.is_integer()) expected(n, "an integer");
    out = n.as_integer()->get();
    check_range(n, static_cast<double>(out));
  }
  void operator()(const toml::node& n, int& out) const {
    std::int64_t v = 0;
    (*this)(n, v);
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
      args.fail(key, "value " + std::to_string(v) + " does not fit a 32-bit integer");
    out = static_cast<int>(v);
  }
  void operator()(const toml::node& n, double& out) const {
    if (n.is_integer()) out = static_cast<double>(n.as_integer()->get());
    else if (n.is_floating_point()) out = n.as_floating_point()->get();
    else expected(n, "a number");
    if (std::isnan(out)) args.fail(key, "expected a number, found nan");
    check_range(n, out);
  }
  void operator()(const toml::node& n, std::string& out) const {
    if (!n.is_string()) expected(n, "a string");
    out = n.as_string()->get();
  }
  template <class T>
  void operator()(const toml::node& n, std::vector<T>& out) const {
    if (!n.is_array()) expected(n, "an array");
    out.clear();
    for (const auto& element : *n.as_array()) {
      T v{};
      (*this)(element, v);
      out.push_back(std::move(v));
    }
  }
  void operator()(const toml::node& n, std::map<std::string, double>& out) const {
    if (!n.is_table()) expected(n, "a table of numbers");
    out.clear();
    for (const auto& [k, element] : *n.as_table()) {
      double v = 0;
      (*this)(element, v);
      out[std::string(k.str())] = v;
    }
  }
};

}  // namespace

namespace {

void remember(std::vector<std::pair<std::string, std::string>>& resolved, std::string_view key,
              std::string value) {
  for (auto& entry : resolved) {
    if (entry.first == key) {
      entry.second = std::move(value);
      return;
    }
  }
  resolved.emplace_back(std::string(key), std::move(value));
}

}  // namespace

template <class T>
std::optional<T> Args::optional(std::string_view key, Range range) const {
  if (!has(key)) return std::nullopt;
  T value{};
  Convert{*this, key, range}(*impl_->table->get(key), value);
  remember(impl_->resolved, key, literal(value));
  return value;
}

template <class T>
T Args::get(std::string_view key, T fallback, Range range) const {
  if (auto v = optional<T>(key, range)) return *v;
  remember(impl_->resolved, key, literal(fallback));
  return fallback;
}

template <class T>
T Args::required(std::string_view key, Range range) const {
  if (auto v = optional<T>(key, range)) return *v;
  std::string where_text = impl_->path.empty() ? "the top level" : "[" + impl_->path + "]";
  throw ConfigError(impl_->where, "missing required key '" + std::string(key) + "' in " + where_text);
}

#define COHORT_ARGS_INSTANTIATE(T)                                              \
  template T Args::get<T>(std::string_view, T, Range) const;                    \
  template T Args::required<T>(std::string_view, Range) const;                  \
  template std::optional<T> Args::optional<T>(std::string_view, Range) const;
COHORT_ARGS_VALUE_TYPES(COHORT_ARGS_INSTANTIATE)

}  // namespace cohort
