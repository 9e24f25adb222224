#pragma once
// The initial global model of a recipe, as the server makes it from `[model]`
// (models::ModelSpec): the zoo's network or synthetic tensors, the tensors of a file the
// user saved with torch.save, or the state_dict() of the user's own Python class.
//
// The class is instantiated here, on the server, once per job: the global model is made
// where it lives, the class's file travels with the job as a script does, and the
// admin's machine needs no PyTorch to submit. The server runs Debian's Python for it
// (`[model] interpreter`), in a process of its own: a class that does not import or whose
// constructor raises fails the job at its start, with the traceback's last lines.

#include "model_zoo.hpp"

#include <cohort/model.hpp>

#include <optional>

namespace cohort::runtime {

/// The initial model `spec` names; nothing for `from_site` (the job asks a site for it).
/// Errors are ConfigErrors at `[model]`'s position saying what is wrong with the file or
/// the class.
std::optional<Model> make_initial_model(const models::ModelSpec& spec);

/// The tensors of `file`, a torch.save() of a dict of tensors (a state_dict); `where`
/// locates the errors.
Model read_tensor_file(const std::filesystem::path& file, const SourceLocation& where);

}  // namespace cohort::runtime
