// Imported key material (hsm/import.h, Hsm import tokens): everything ImportKeyMaterial reads
// from a client. The first byte picks what the rest is:
//   0      an import token, opened for a fixed key and used with well-wrapped material;
//   1..5   wrapped material, unwrapped with the fixed RSA_2048 key of fuzz_common.h (1-4: the
//          RSA algorithms) or a fixed SM2 key (5), then checked as material of every key spec;
//   other  unwrapped material (raw bytes or a PKCS#8 key), checked for every key spec.
// Nothing may crash, leak or be accepted that the checks refuse.
#include <openssl/pem.h>

#include "fuzz/fuzz_common.h"
#include "hsm/asymmetric.h"
#include "hsm/hsm.h"
#include "hsm/import.h"
#include "support/fakes.h"

namespace {

using namespace kmsd;

constexpr char kArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555";
constexpr const char* kSpecs[] = {
    "SYMMETRIC_DEFAULT",    "HMAC_224", "HMAC_512", "RSA_2048", "ECC_NIST_P256", "ECC_SECG_P256K1",
    "ECC_NIST_EDWARDS25519"};

struct Fixture {
    std::unique_ptr<hsm::Hsm> hsm = hsm::Hsm::New(testing::MasterKey(7)).value();
    hsm::PkeyPtr rsa;
    hsm::PkeyPtr sm2;
    Bytes wrapped;  // 32 bytes under a real token, for inputs that are tokens
    Fixture() {
        auto pem = hsm::PrivateKeyFromPem(fuzz::kRsaPem).value();
        rsa = hsm::ParsePrivateKey(pem.pkcs8, *pem.spec).value();
        sm2 = hsm::ParsePrivateKey(hsm::GeneratePrivateKey(*hsm::FindKeySpec("SM2")).value(),
                                   *hsm::FindKeySpec("SM2"))
                  .value();
        wrapped = Bytes(256, 0x42);
    }
};

void CheckEverySpec(ByteView material) {
    for (const char* name : kSpecs) {
        const hsm::KeySpecInfo& spec = *hsm::FindKeySpec(name);
        const Status st = hsm::CheckImportedMaterial(spec, material);
        if (!st.ok() && st.code() != ErrorCode::kIncorrectKeyMaterial)
            fuzz::Fail(std::string("CheckImportedMaterial gave another error for ") + name);
        // Accepted private keys must be usable as the spec's key.
        if (st.ok() && hsm::IsAsymmetric(spec) && !hsm::ParsePrivateKey(material, spec).ok())
            fuzz::Fail(std::string("accepted material that does not parse as ") + name);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture f;
    if (size == 0) return 0;
    const ByteView rest(data + 1, size - 1);
    if (data[0] == 0) {
        auto info = f.hsm->OpenImportToken(kArn, rest);
        if (!info.ok() && info.status().code() != ErrorCode::kInvalidImportToken)
            fuzz::Fail("OpenImportToken gave another error than InvalidImportToken");
        auto imported = f.hsm->ImportWrapped(kArn, "k", "SYMMETRIC_DEFAULT", rest, f.wrapped);
        if (imported.ok()) fuzz::Fail("a fuzzed token unwrapped material");
        return 0;
    }
    if (data[0] <= 5) {
        static const char* kAlgs[] = {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256",
                                      "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256",
                                      "SM2PKE"};
        const hsm::WrappingAlgorithmInfo& alg = *hsm::FindWrappingAlgorithm(kAlgs[data[0] - 1]);
        auto material = hsm::UnwrapKeyMaterial(data[0] == 5 ? f.sm2.get() : f.rsa.get(), alg, rest);
        if (!material.ok()) {
            if (material.status().code() != ErrorCode::kInvalidCiphertext)
                fuzz::Fail("UnwrapKeyMaterial gave another error than InvalidCiphertext");
            return 0;
        }
        CheckEverySpec(*material);
        return 0;
    }
    CheckEverySpec(rest);
    return 0;
}
