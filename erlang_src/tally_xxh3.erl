%% @doc XXH3 (64 and 128 bits, with seed) in Erlang, bit for bit the
%% xxhash-rust functions the Rust engine deduplicates events with: the pure
%% Gleam engine keeps the same 128-bit digests, so its exports equal the
%% Rust engine's and each reads the other's. Bit-level work stays in Erlang
%% (DESIGN.md); this module knows nothing of events beyond event_digest/2.
%% Every arithmetic step is masked to 64 bits, as Rust's wrapping ops are.
-module(tally_xxh3).

-export([hash64/1, hash64/2, hash128/2, event_digest/2]).

-define(M, 16#FFFFFFFFFFFFFFFF).
-define(M32, 16#FFFFFFFF).
-define(P32_1, 16#9E3779B1).
-define(P32_2, 16#85EBCA77).
-define(P32_3, 16#C2B2AE3D).
-define(P64_1, 16#9E3779B185EBCA87).
-define(P64_2, 16#C2B2AE3D27D4EB4F).
-define(P64_3, 16#165667B19E3779F9).
-define(P64_4, 16#85EBCA77C2B2AE63).
-define(P64_5, 16#27D4EB2F165667C5).
-define(MX1, 16#165667919E3779F9).
-define(MX2, 16#9FB21C651E98DF25).
-define(SECRET_SIZE_MIN, 136).

-define(DEFAULT_SECRET, <<
    16#b8, 16#fe, 16#6c, 16#39, 16#23, 16#a4, 16#4b, 16#be, 16#7c, 16#01, 16#81, 16#2c, 16#f7, 16#21, 16#ad, 16#1c,
    16#de, 16#d4, 16#6d, 16#e9, 16#83, 16#90, 16#97, 16#db, 16#72, 16#40, 16#a4, 16#a4, 16#b7, 16#b3, 16#67, 16#1f,
    16#cb, 16#79, 16#e6, 16#4e, 16#cc, 16#c0, 16#e5, 16#78, 16#82, 16#5a, 16#d0, 16#7d, 16#cc, 16#ff, 16#72, 16#21,
    16#b8, 16#08, 16#46, 16#74, 16#f7, 16#43, 16#24, 16#8e, 16#e0, 16#35, 16#90, 16#e6, 16#81, 16#3a, 16#26, 16#4c,
    16#3c, 16#28, 16#52, 16#bb, 16#91, 16#c3, 16#00, 16#cb, 16#88, 16#d0, 16#65, 16#8b, 16#1b, 16#53, 16#2e, 16#a3,
    16#71, 16#64, 16#48, 16#97, 16#a2, 16#0d, 16#f9, 16#4e, 16#38, 16#19, 16#ef, 16#46, 16#a9, 16#de, 16#ac, 16#d8,
    16#a8, 16#fa, 16#76, 16#3f, 16#e3, 16#9c, 16#34, 16#3f, 16#f9, 16#dc, 16#bb, 16#c7, 16#c7, 16#0b, 16#4f, 16#1d,
    16#8a, 16#51, 16#e0, 16#4b, 16#cd, 16#b4, 16#59, 16#31, 16#c8, 16#9f, 16#7e, 16#c9, 16#d9, 16#78, 16#73, 16#64,
    16#ea, 16#c5, 16#ac, 16#83, 16#34, 16#d3, 16#eb, 16#c3, 16#c5, 16#81, 16#a0, 16#ff, 16#fa, 16#13, 16#63, 16#eb,
    16#17, 16#0d, 16#dd, 16#51, 16#b7, 16#f0, 16#da, 16#49, 16#d3, 16#16, 16#55, 16#26, 16#29, 16#d4, 16#68, 16#9e,
    16#2b, 16#16, 16#be, 16#58, 16#7d, 16#47, 16#a1, 16#fc, 16#8f, 16#f8, 16#b8, 16#d1, 16#7a, 16#d0, 16#31, 16#ce,
    16#45, 16#cb, 16#3a, 16#8f, 16#95, 16#16, 16#04, 16#28, 16#af, 16#d7, 16#fb, 16#ca, 16#bb, 16#4b, 16#40, 16#7e
>>).

%% The digest tally_core::aggregate::event_digest gives (source, id).
-spec event_digest(binary(), binary()) -> non_neg_integer().
event_digest(Source, Id) -> hash128(Id, hash64(Source)).

-spec hash64(binary()) -> non_neg_integer().
hash64(Input) -> hash64(Input, 0).

%% xxh3_64_with_seed.
-spec hash64(binary(), non_neg_integer()) -> non_neg_integer().
hash64(In, Seed) ->
    S = ?DEFAULT_SECRET,
    case byte_size(In) of
        0 -> xxh64_avalanche(Seed bxor r64(S, 56) bxor r64(S, 64));
        Len when Len =< 3 ->
            Flip = add(r32(S, 0) bxor r32(S, 4), Seed),
            xxh64_avalanche(combo(In, Len) bxor Flip);
        Len when Len =< 8 ->
            Seed2 = Seed bxor (bswap32(Seed band ?M32) bsl 32),
            Flip = sub(r64(S, 8) bxor r64(S, 16), Seed2),
            In64 = add(r32(In, Len - 4), r32(In, 0) bsl 32),
            strong_avalanche(In64 bxor Flip, Len);
        Len when Len =< 16 ->
            Lo = r64(In, 0) bxor add(r64(S, 24) bxor r64(S, 32), Seed),
            Hi = r64(In, Len - 8) bxor sub(r64(S, 40) bxor r64(S, 48), Seed),
            avalanche(add(add(add(Len, bswap64(Lo)), Hi), fold(Lo, Hi)));
        Len when Len =< 128 ->
            Pairs = mid_pairs(Len),
            Acc = lists:foldl(
                fun({A, B, K}, Acc) ->
                    add(add(Acc, mix16(In, A, S, K, Seed)), mix16(In, B, S, K + 16, Seed))
                end,
                mul(Len, ?P64_1), Pairs),
            avalanche(Acc);
        Len when Len =< 240 ->
            Rounds = Len div 16,
            Acc0 = lists:foldl(fun(I, Acc) -> add(Acc, mix16(In, 16 * I, S, 16 * I, Seed)) end,
                               mul(Len, ?P64_1), lists:seq(0, 7)),
            Acc1 = lists:foldl(fun(I, Acc) -> add(Acc, mix16(In, 16 * I, S, 16 * (I - 8) + 3, Seed)) end,
                               avalanche(Acc0), lists:seq(8, Rounds - 1)),
            avalanche(add(Acc1, mix16(In, Len - 16, S, ?SECRET_SIZE_MIN - 17, Seed)));
        Len ->
            Secret = custom_secret(Seed),
            Acc = long_accumulate(In, Secret),
            merge_accs(Acc, Secret, 11, mul(Len, ?P64_1))
    end.

%% xxh3_128_with_seed.
-spec hash128(binary(), non_neg_integer()) -> non_neg_integer().
hash128(In, Seed) ->
    S = ?DEFAULT_SECRET,
    {Lo, Hi} =
        case byte_size(In) of
            0 ->
                {xxh64_avalanche(Seed bxor r64(S, 64) bxor r64(S, 72)),
                 xxh64_avalanche(Seed bxor r64(S, 80) bxor r64(S, 88))};
            Len when Len =< 3 ->
                InLo = combo(In, Len),
                InHi = rotl32(bswap32(InLo), 13),
                {xxh64_avalanche(InLo bxor add(r32(S, 0) bxor r32(S, 4), Seed)),
                 xxh64_avalanche(InHi bxor sub(r32(S, 8) bxor r32(S, 12), Seed))};
            Len when Len =< 8 ->
                Seed2 = Seed bxor (bswap32(Seed band ?M32) bsl 32),
                In64 = add(r32(In, 0), r32(In, Len - 4) bsl 32),
                Keyed = In64 bxor add(r64(S, 16) bxor r64(S, 24), Seed2),
                P = Keyed * add(?P64_1, Len bsl 2),
                H1 = add(P bsr 64, (P band ?M) bsl 1),
                L1 = (P band ?M) bxor (H1 bsr 3),
                L2 = mul(xorshift(L1, 35), ?MX2),
                {xorshift(L2, 28), avalanche(H1)};
            Len when Len =< 16 ->
                FlipLo = sub(r64(S, 32) bxor r64(S, 40), Seed),
                FlipHi = add(r64(S, 48) bxor r64(S, 56), Seed),
                InLo = r64(In, 0),
                InHi = r64(In, Len - 8),
                P = (InLo bxor InHi bxor FlipLo) * ?P64_1,
                MulLo = add(P band ?M, (Len - 1) bsl 54),
                InHi2 = InHi bxor FlipHi,
                MulHi = add(add(P bsr 64, InHi2), (InHi2 band ?M32) * (?P32_2 - 1)),
                MulLo2 = MulLo bxor bswap64(MulHi),
                R = MulLo2 * ?P64_2,
                {avalanche(R band ?M), avalanche(add(R bsr 64, mul(MulHi, ?P64_2)))};
            Len when Len =< 128 ->
                {L, H} = mid32(In, Len, S, Seed, mid_pairs(Len), mul(Len, ?P64_1), 0),
                mid_finish(L, H, Len, Seed);
            Len when Len =< 240 ->
                Rounds = Len div 32,
                {L0, H0} = lists:foldl(
                    fun(I, {L, H}) -> mix32(In, 32 * I, 32 * I + 16, S, 32 * I, Seed, L, H) end,
                    {mul(Len, ?P64_1), 0}, lists:seq(0, 3)),
                {L1, H1} = lists:foldl(
                    fun(I, {L, H}) -> mix32(In, 32 * I, 32 * I + 16, S, 3 + 32 * (I - 4), Seed, L, H) end,
                    {avalanche(L0), avalanche(H0)}, lists:seq(4, Rounds - 1)),
                {L2, H2} = mix32(In, Len - 16, Len - 32, S, ?SECRET_SIZE_MIN - 17 - 16, sub(0, Seed), L1, H1),
                mid_finish(L2, H2, Len, Seed);
            Len ->
                Secret = custom_secret(Seed),
                Acc = long_accumulate(In, Secret),
                {merge_accs(Acc, Secret, 11, mul(Len, ?P64_1)),
                 merge_accs(Acc, Secret, byte_size(Secret) - 64 - 11, mul(Len, ?P64_2) bxor ?M)}
        end,
    Lo bor (Hi bsl 64).

%% 17 to 128 bytes: the (front, back, secret) offsets of the 16-byte pairs
%% mixed, outermost first as the reference adds them (last pair mixed last).
mid_pairs(Len) ->
    Outer = [{48, Len - 64, 96} || Len > 96] ++ [{32, Len - 48, 64} || Len > 64] ++
            [{16, Len - 32, 32} || Len > 32],
    Outer ++ [{0, Len - 16, 0}].

mid32(_In, _Len, _S, _Seed, [], Lo, Hi) -> {Lo, Hi};
mid32(In, Len, S, Seed, [{A, B, K} | Rest], Lo, Hi) ->
    {Lo1, Hi1} = mix32(In, A, B, S, K, Seed, Lo, Hi),
    mid32(In, Len, S, Seed, Rest, Lo1, Hi1).

mid_finish(Lo, Hi, Len, Seed) ->
    {avalanche(add(Lo, Hi)),
     sub(0, avalanche(add(add(mul(Lo, ?P64_1), mul(Hi, ?P64_4)), mul(sub(Len, Seed), ?P64_2))))}.

mix16(In, InOff, S, SOff, Seed) ->
    {A, B} = r128(In, InOff),
    mix16_words(A, B, S, SOff, Seed).

mix16_words(A, B, S, SOff, Seed) ->
    {KA, KB} = r128(S, SOff),
    fold(A bxor add(KA, Seed), B bxor sub(KB, Seed)).

mix32(In, Off1, Off2, S, SOff, Seed, Lo, Hi) ->
    {A1, B1} = r128(In, Off1),
    {A2, B2} = r128(In, Off2),
    Lo1 = add(Lo, mix16_words(A1, B1, S, SOff, Seed)) bxor add(A2, B2),
    Hi1 = add(Hi, mix16_words(A2, B2, S, SOff + 16, Seed)) bxor add(A1, B1),
    {Lo1, Hi1}.

combo(In, Len) ->
    C1 = binary:at(In, 0),
    C2 = binary:at(In, Len bsr 1),
    C3 = binary:at(In, Len - 1),
    (C1 bsl 16) bor (C2 bsl 24) bor C3 bor (Len bsl 8).

%% Inputs over 240 bytes: stripes of 64 bytes into eight accumulators.
long_accumulate(In, Secret) ->
    Len = byte_size(In),
    StripesPerBlock = (byte_size(Secret) - 64) div 8,
    BlockLen = 64 * StripesPerBlock,
    Blocks = (Len - 1) div BlockLen,
    Acc0 = {?P32_3, ?P64_1, ?P64_2, ?P64_3, ?P64_4, ?P32_2, ?P64_5, ?P32_1},
    Acc1 = lists:foldl(
        fun(B, Acc) ->
            scramble(stripes(Acc, In, B * BlockLen, Secret, StripesPerBlock), Secret, byte_size(Secret) - 64)
        end,
        Acc0, lists:seq(0, Blocks - 1)),
    Last = ((Len - 1) - BlockLen * Blocks) div 64,
    Acc2 = stripes(Acc1, In, Blocks * BlockLen, Secret, Last),
    accumulate(Acc2, In, Len - 64, Secret, byte_size(Secret) - 64 - 7).

stripes(Acc, In, Off, Secret, N) ->
    lists:foldl(fun(I, A) -> accumulate(A, In, Off + 64 * I, Secret, 8 * I) end, Acc, lists:seq(0, N - 1)).

accumulate(Acc, In, Off, S, SOff) ->
    lists:foldl(
        fun(I, A) ->
            Data = r64(In, Off + 8 * I),
            Key = Data bxor r64(S, SOff + 8 * I),
            A1 = setelement((I bxor 1) + 1, A, add(element((I bxor 1) + 1, A), Data)),
            setelement(I + 1, A1, add(element(I + 1, A1), (Key band ?M32) * (Key bsr 32)))
        end,
        Acc, lists:seq(0, 7)).

scramble(Acc, S, SOff) ->
    list_to_tuple([mul(xorshift(element(I + 1, Acc), 47) bxor r64(S, SOff + 8 * I), ?P32_1)
                   || I <- lists:seq(0, 7)]).

merge_accs(Acc, S, SOff, Start) ->
    Sum = lists:foldl(
        fun(I, R) ->
            add(R, fold(element(2 * I + 1, Acc) bxor r64(S, SOff + 16 * I),
                        element(2 * I + 2, Acc) bxor r64(S, SOff + 16 * I + 8)))
        end,
        Start, lists:seq(0, 3)),
    avalanche(Sum).

custom_secret(0) -> ?DEFAULT_SECRET;
custom_secret(Seed) ->
    S = ?DEFAULT_SECRET,
    << <<(add(r64(S, 16 * I), Seed)):64/little, (sub(r64(S, 16 * I + 8), Seed)):64/little>>
       || I <- lists:seq(0, byte_size(S) div 16 - 1) >>.

%% 64-bit helpers ------------------------------------------------------------

add(A, B) -> (A + B) band ?M.
sub(A, B) -> (A - B) band ?M.
mul(A, B) -> (A * B) band ?M.
fold(A, B) -> P = A * B, (P band ?M) bxor (P bsr 64).
xorshift(V, Shift) -> V bxor (V bsr Shift).

xxh64_avalanche(H0) ->
    H1 = mul(xorshift(H0, 33), ?P64_2),
    H2 = mul(xorshift(H1, 29), ?P64_3),
    xorshift(H2, 32).

avalanche(V) -> xorshift(mul(xorshift(V, 37), ?MX1), 32).

strong_avalanche(V0, Len) ->
    V1 = V0 bxor rotl64(V0, 49) bxor rotl64(V0, 24),
    V2 = mul(V1, ?MX2),
    V3 = V2 bxor add(V2 bsr 35, Len),
    xorshift(mul(V3, ?MX2), 28).

rotl64(V, N) -> ((V bsl N) bor (V bsr (64 - N))) band ?M.
rotl32(V, N) -> ((V bsl N) bor (V bsr (32 - N))) band ?M32.
bswap32(V) -> <<R:32/little>> = <<V:32/big>>, R.
bswap64(V) -> <<R:64/little>> = <<V:64/big>>, R.

r64(Bin, Off) -> <<_:Off/binary, V:64/little, _/binary>> = Bin, V.
r128(Bin, Off) -> <<_:Off/binary, A:64/little, B:64/little, _/binary>> = Bin, {A, B}.
r32(Bin, Off) -> <<_:Off/binary, V:32/little, _/binary>> = Bin, V.
