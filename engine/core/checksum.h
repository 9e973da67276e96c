#pragma once
// Content checksums for files we write and read back: XXH64 (Yann Collet's 64-bit hash, from its published
// specification), fast enough to check a multi-gigabyte checkpoint at memory speed.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace r1 {

uint64_t xxh64(const void* data, size_t size, uint64_t seed = 0);

// The XXH64 of a file's bytes as 16 lowercase hex digits (read through a memory map).
std::string file_xxh64(const std::filesystem::path& path);

}  // namespace r1
