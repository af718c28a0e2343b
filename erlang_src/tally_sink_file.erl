%% @doc The embedded default sink: invoice lines appended as JSON Lines to
%% one file, synced before they count as acknowledged. The keys already in
%% the file are read at start, so an item published again (after a crash
%% between the write and the outbox's removal) is not written twice: the
%% file holds each key once, as a stream with a duplicate window would.
-module(tally_sink_file).

-export([init/1, publish/2, publish_written/2, describe/1]).

%% seen: the keys known to be in the file; written: the ids of the written
%% batches appended since (`publish_written/2`), each as the engine wrote
%% them, taken apart into `seen` only when an item or a batch may repeat one.
-record(sink, {path :: file:filename(), seen :: #{binary() => true}, written = [] :: [binary()],
               written_set = #{} :: #{binary() => true}}).
-opaque sink() :: #sink{}.
-export_type([sink/0]).

-spec init(#{path := file:filename()}) -> {ok, sink()} | {error, term()}.
init(#{path := Path}) ->
    case tally_files:ensure_dir(Path) of
        ok ->
            case file:read_file(Path) of
                {ok, Bin} -> {ok, #sink{path = Path, seen = keys(Bin)}};
                {error, enoent} -> {ok, #sink{path = Path, seen = #{}}};
                {error, Reason} -> {error, {Path, Reason}}
            end;
        {error, Reason} ->
            {error, {Path, Reason}}
    end.

-spec describe(sink()) -> binary().
describe(#sink{path = Path}) -> unicode:characters_to_binary(["file ", Path]).

%% A batch of items: its new lines appended with one write and one fsync;
%% every item's key is acknowledged once its line is on disk (or was already).
-spec publish([tally_outbox:item()], sink()) ->
          {ok, [binary()], sink()} | {error, term(), [binary()], sink()}.
publish(Items, #sink{written = [_ | _]} = Sink) ->
    publish(Items, with_written_seen(Sink));
publish(Items, #sink{path = Path, seen = Seen} = Sink) ->
    New = [I || {Key, _, _} = I <- Items, not is_map_key(Key, Seen)],
    Lines = [[Payload, $\n] || {_, _, Payload} <- New],
    Keys = [K || {K, _, _} <- Items],
    case tally_files:append_durably(Path, Lines) of
        ok -> {ok, Keys, Sink#sink{seen = lists:foldl(fun({K, _, _}, S) -> S#{K => true} end, Seen, New)}};
        {error, Reason} -> {error, {Path, Reason}, [], Sink}
    end.

%% A batch as the engine wrote it: its lines appended as they are, with
%% one write and one fsync, when none of its keys can be in the file
%% already (nothing read at start or published item by item, and not the
%% same batch again: the outbox stores a batch whole only when none of its
%% keys waits or was acknowledged, so two whole batches never share a
%% key); else item by item. All acknowledged, or none.
-spec publish_written(tally_outbox:written(), sink()) -> {ok, sink()} | {error, term(), sink()}.
publish_written({written, _, {written_batch, _, Ids, Lines}} = W,
                #sink{path = Path, seen = Seen, written = Written, written_set = Set} = Sink) ->
    case {is_map_key(Ids, Set), map_size(Seen)} of
        {true, _} ->
            {ok, Sink};  % the same batch again (its acknowledgement was lost)
        {false, 0} ->
            case tally_files:append_durably(Path, Lines) of
                ok -> {ok, Sink#sink{written = [Ids | Written], written_set = Set#{Ids => true}}};
                {error, Reason} -> {error, {Path, Reason}, Sink}
            end;
        {false, _} ->
            Items = tally_outbox:items(W),
            case publish(Items, Sink) of
                {ok, _, Sink1} -> {ok, Sink1};
                {error, Reason, _, Sink1} -> {error, Reason, Sink1}
            end
    end.

%% The keys of the written batches moved into `seen`.
with_written_seen(#sink{seen = Seen, written = Written} = Sink) ->
    Keys = [K || Ids <- Written, K <- binary:split(Ids, <<"\n">>, [global, trim_all])],
    Sink#sink{seen = maps:merge(Seen, maps:from_keys(Keys, true)), written = [], written_set = #{}}.

%% An invoice line's item key is its key and version
%% (`tally_invoice:msg_id/2`): a reissue's lines are new to the file.
keys(Bin) ->
    maps:from_list([{item_key(M), true} || Line <- binary:split(Bin, <<"\n">>, [global, trim_all]),
                                           {ok, #{<<"key">> := _} = M} <- [tally_json:decode(Line)]]).

item_key(#{<<"key">> := K, <<"version">> := V}) when is_integer(V) -> tally_invoice:msg_id(K, V);
item_key(#{<<"key">> := K}) -> K.
