%% @doc The embedded default sink: invoice lines appended as JSON Lines to
%% one file, synced before they count as acknowledged. The keys already in
%% the file are read at start, so an item published again (after a crash
%% between the write and the outbox's removal) is not written twice: the
%% file holds each key once, as a stream with a duplicate window would.
-module(tally_sink_file).

-export([init/1, publish/2, describe/1]).

-record(sink, {path :: file:filename(), seen :: #{binary() => true}}).
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
-spec publish([{Key :: binary(), Subject :: binary(), Payload :: binary()}], sink()) ->
          {ok, [binary()], sink()} | {error, term(), [binary()], sink()}.
publish(Items, #sink{path = Path, seen = Seen} = Sink) ->
    New = [I || {Key, _, _} = I <- Items, not is_map_key(Key, Seen)],
    Lines = [[Payload, $\n] || {_, _, Payload} <- New],
    Keys = [K || {K, _, _} <- Items],
    case tally_files:append_durably(Path, Lines) of
        ok -> {ok, Keys, Sink#sink{seen = lists:foldl(fun({K, _, _}, S) -> S#{K => true} end, Seen, New)}};
        {error, Reason} -> {error, {Path, Reason}, [], Sink}
    end.

%% An invoice line's item key is its key and version
%% (tally/app/written's `msg_id`): a reissue's lines are new to the file.
keys(Bin) ->
    maps:from_list([{item_key(M), true} || Line <- binary:split(Bin, <<"\n">>, [global, trim_all]),
                                           {ok, #{<<"key">> := _} = M} <- [tally_json:decode(Line)]]).

item_key(#{<<"key">> := K, <<"version">> := V}) when is_integer(V) -> 'tally@app@written':msg_id(K, V);
item_key(#{<<"key">> := K}) -> K.
