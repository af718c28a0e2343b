%% @doc How far a shard has applied one file of a source: pure logic, no I/O.
%%
%% A file is known by its identity (device and inode) and, because the same
%% inode can be truncated and written again (copy-and-truncate rotation), by
%% a generation and a fingerprint: an MD5 of its first bytes (up to
%% `fp_len()`, never more than were read). A changed fingerprint is a new
%% generation of the file, read from its start.
%%
%% Every shard records, per (source, identity), the position the applied
%% input reached. The collector cuts its chunks at line ends and, after a
%% restart, also at every position a shard holds, so a chunk is either
%% wholly applied by a shard or wholly new to it: a shard skips a chunk it
%% has already applied by comparing positions, and restarts are exact
%% without remembering events.
-module(tally_source_pos).

-include_lib("kernel/include/file.hrl").

-export([id/1, start/1, fingerprint/1, fp_len/0, extend_fp/3, decide/3, resume/2]).

-type id() :: {Device :: non_neg_integer(), Inode :: non_neg_integer()}.
-type fp() :: {Length :: non_neg_integer(), binary()}.
%% done: the file was read to its end after it was rotated away; nothing more comes.
-type pos() :: #{gen := non_neg_integer(), offset := non_neg_integer(), line := non_neg_integer(),
                 fp := fp(), done := boolean()}.
-export_type([id/0, fp/0, pos/0]).

-define(FP_LEN, 1024).

%% The identity of a file from its file_info record (read with [raw]).
-spec id(#file_info{}) -> id().
id(#file_info{major_device = Device, inode = Inode}) -> {Device, Inode}.

%% The position of a file not read yet, in generation Gen.
-spec start(non_neg_integer()) -> pos().
start(Gen) -> #{gen => Gen, offset => 0, line => 0, fp => fingerprint(<<>>), done => false}.

-spec fp_len() -> pos_integer().
fp_len() -> ?FP_LEN.

-spec fingerprint(binary()) -> fp().
fingerprint(Head) -> {byte_size(Head), erlang:md5(Head)}.

%% The fingerprint after reading up to Offset: it grows with what was read
%% until it covers fp_len() bytes. Head reads the file's first N bytes.
-spec extend_fp(fp(), non_neg_integer(), fun((non_neg_integer()) -> binary())) -> fp().
extend_fp({Len, _} = Fp, Offset, Head) ->
    case min(Offset, ?FP_LEN) of
        Len -> Fp;
        N -> fingerprint(Head(N))
    end.

%% What a shard holding Current does with a chunk of generation Gen from
%% offset From to position To.
-spec decide(pos() | none, {non_neg_integer(), non_neg_integer()}, pos()) -> apply | skip | {error, term()}.
decide(none, _From, _To) -> apply;
decide(#{gen := G}, {Gen, _}, _To) when Gen > G -> apply;
decide(#{gen := G}, {Gen, _}, _To) when Gen < G -> skip;
decide(#{offset := At}, {_, From}, #{offset := To}) when To =< At, From < To -> skip;
decide(#{offset := At}, {_, From}, _To) when From =:= At -> apply;
decide(#{offset := At}, {_, From}, _To) -> {error, {chunk_not_at_position, From, At}}.

%% Where a collector resumes a file from the shards' records of it (none for
%% a shard without one): the lowest position of the newest generation whose
%% fingerprint still matches the file (Matches checks it), and the offsets
%% above it where some shard stopped, at which the reading must cut.
%% A fingerprint that no longer matches: the file was rewritten, a new
%% generation from its start.
-spec resume([pos() | none], fun((fp()) -> boolean())) -> {pos(), [non_neg_integer()]}.
resume(Records, Matches) ->
    case [P || #{} = P <- Records] of
        [] ->
            {start(0), []};
        Known ->
            Gen = lists:max([G || #{gen := G} <- Known]),
            Newest = [P || #{gen := G} = P <- Known, G =:= Gen],
            #{fp := Fp} = lists:last(lists:sort(fun(#{offset := A}, #{offset := B}) -> A =< B end, Newest)),
            case Matches(Fp) of
                false ->
                    {start(Gen + 1), []};
                true ->
                    Current = [case R of #{gen := Gen} -> R; _ -> start(Gen) end || R <- Records],
                    [Low | _] = Sorted = lists:sort(fun(#{offset := A}, #{offset := B}) -> A =< B end, Current),
                    #{offset := From} = Low,
                    {Low, lists:usort([O || #{offset := O} <- Sorted, O > From])}
            end
    end.
