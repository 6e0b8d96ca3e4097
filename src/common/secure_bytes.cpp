#include "common/secure_bytes.h"

#include <openssl/crypto.h>

namespace kmsd {

void SecureWipe(void* p, std::size_t n) {
    if (p != nullptr && n > 0) OPENSSL_cleanse(p, n);
}

}  // namespace kmsd
