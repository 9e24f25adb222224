#pragma once
/// @file export.hpp
/// cohort's shared libraries hide every symbol by default (-fvisibility=hidden); what a
/// plugin or a higher layer may call is marked COHORT_API. On ELF the same attribute
/// exports a symbol where it is defined and imports it where it is used.

#define COHORT_API __attribute__((visibility("default")))
