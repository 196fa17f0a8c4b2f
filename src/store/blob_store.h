// BlobStore: where the server keeps chunk ciphertexts. Opaque bytes under string keys.
//
// Implementations: local files (store/local, the embedded default), S3 (store/s3: AWS,
// Ceph RGW, any S3-compatible service).
// Keys are ASCII [a-z0-9/_-], at most 200 characters; `/` separates a prefix (the account id)
// from the name. Every implementation must be thread-safe and pass
// store/testing/blob_store_conformance.
#ifndef COFFER_STORE_BLOB_STORE_H_
#define COFFER_STORE_BLOB_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::store {

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Stores `data` under `key`, atomically and durably: once OK is returned the blob survives
  // a crash, and a reader never sees a partial blob. Replacing an existing key is allowed
  // (the result is one of the two values, never a mix).
  // kInvalidArgument: bad key. kUnavailable: transient I/O failure.
  virtual Status Put(std::string_view key, ByteView data) = 0;

  // kNotFound: no such key.
  virtual StatusOr<Bytes> Get(std::string_view key) = 0;

  // Reads `length` (>= 1) bytes from `offset`, fewer if the blob ends first. kNotFound: no
  // such key; kOutOfRange: `offset` is at or past the end. The default reads the whole blob;
  // engines override it with a real ranged read (pread, an HTTP Range request).
  virtual StatusOr<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length);

  virtual StatusOr<bool> Exists(std::string_view key) = 0;

  // OK also when the key did not exist (idempotent).
  virtual Status Delete(std::string_view key) = 0;

  // Calls fn(key) for every key starting with `prefix`, in no particular order. fn returning
  // false stops the listing early (OK is still returned).
  virtual Status List(std::string_view prefix, const std::function<bool(const std::string&)>& fn) = 0;
};

// Validates a key against the rules above.
Status ValidateBlobKey(std::string_view key);

// ADDED by the store module (not in the original contract): validates the `prefix` argument
// of BlobStore::List. A prefix is any leading part of a valid key, so it may be empty or end
// in '/', but it uses only the key alphabet, has no "//" and is at most 200 characters.
// Every implementation answers List with kInvalidArgument for a prefix this rejects, so that
// a hostile prefix such as "../" never reaches a file system path or an S3 request.
Status ValidateBlobKeyPrefix(std::string_view prefix);

}  // namespace coffer::store

#endif  // COFFER_STORE_BLOB_STORE_H_
