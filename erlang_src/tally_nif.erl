%% @doc Loader and stubs for the tally NIF library (native/nif).
%%
%% The library is loaded from the application's priv directory; when the
%% application is not known to the code server (a bare `-pa` build) it falls
%% back to `../priv` beside this module's beam. Every stub raises
%% `{not_loaded, tally_nif}` when the library could not be loaded.
%%
%% Every function returns `{ok, Value}` or `{error, EngineError}` in Gleam's
%% shapes (see gleam_src/tally/engine.gleam).
-module(tally_nif).

-export([engine_info/0, meter_unit/1, parse_event_line/1]).
-on_load(init/0).

-define(LIB, "libtally_nif").
%% Lines above this go to the dirty-scheduler twin (see native/nif/src/lib.rs).
-define(NORMAL_SCHEDULER_LINE_LIMIT, 65536).

-spec init() -> ok | {error, term()}.
init() ->
    erlang:load_nif(tally_priv:path(?LIB), 0).

-spec engine_info() -> {ok, tuple()} | {error, term()}.
engine_info() -> not_loaded().

-spec meter_unit(binary()) -> {ok, {some, atom()} | none} | {error, term()}.
meter_unit(_Meter) -> not_loaded().

-spec parse_event_line(binary()) -> {ok, {ok, tuple()} | {error, term()}} | {error, term()}.
parse_event_line(Line) when byte_size(Line) > ?NORMAL_SCHEDULER_LINE_LIMIT ->
    parse_event_line_dirty(Line);
parse_event_line(Line) ->
    parse_event_line_normal(Line).

-spec parse_event_line_normal(binary()) -> {ok, term()} | {error, term()}.
parse_event_line_normal(_Line) -> not_loaded().

-spec parse_event_line_dirty(binary()) -> {ok, term()} | {error, term()}.
parse_event_line_dirty(_Line) -> not_loaded().

-spec not_loaded() -> no_return().
not_loaded() ->
    erlang:nif_error({not_loaded, ?MODULE}).
