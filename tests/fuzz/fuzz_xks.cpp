// The external key store proxy's answers (api/xks.h): every parser reads the same bytes as the
// answer of each operation, with the HTTP status taken from the first byte. Nothing may crash; an
// answer a parser accepts must satisfy what the specification promises (lengths, the integrity
// value), and every failure must map to a KMS error in each context.
#include "api/xks.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace kmsd;
    using namespace kmsd::api::xks;
    if (size == 0) return 0;
    // 200 most of the time, so the success parsers are reached; else an error status.
    static constexpr int kStatuses[] = {200, 200, 200, 200, 400, 401, 403, 404, 429, 500, 501, 503};
    const Answer answer{kStatuses[data[0] % std::size(kStatuses)],
                        std::string_view(reinterpret_cast<const char*>(data + 1), size - 1)};
    // The specification's example encryption (corpus/xks/encrypt) uses this AAD and 12 bytes of
    // plaintext, so its integrity value holds and the success path is reached.
    static const std::string kAad = "project=nile,department=marketing";
    const Bytes aad(kAad.begin(), kAad.end());
    std::vector<Failure> failures;

    KeyMetadata meta;
    failures.push_back(ParseKeyMetadata(answer, meta));
    if (failures.back() == Failure::kNone) (void)CheckNewKeyMetadata(meta);

    for (std::size_t plaintext_size : {0u, 12u, 32u}) {
        Ciphertext ct;
        failures.push_back(ParseEncrypt(answer, aad, plaintext_size, ct));
        if (failures.back() != Failure::kNone) continue;
        if (ct.ciphertext.size() != plaintext_size || ct.tag.size() != 16 ||
            (ct.iv.size() != 12 && ct.iv.size() != 16) || ct.metadata.size() > 20)
            fuzz::Fail("ParseEncrypt accepted an answer of the wrong shape");
        // What was accepted goes back out as a Decrypt request.
        (void)DecryptRequest({"arn:aws:iam::111122223333:root", "arn", "Decrypt", "rid"}, ct, aad);
    }
    SecureBytes plain;
    failures.push_back(ParseDecrypt(answer, 5, plain));
    if (failures.back() == Failure::kNone && plain.size() != 5)
        fuzz::Fail("ParseDecrypt accepted a plaintext of the wrong length");
    failures.push_back(ParseHealth(answer));
    failures.push_back(ErrorOf(answer));

    for (Failure f : failures)
        for (Context c : {Context::kKeyStore, Context::kCreateKey, Context::kCrypto})
            if (ToKmsError(f, c).ok() != (f == Failure::kNone))
                fuzz::Fail("a failure maps to no KMS error");
    return 0;
}
