import tally/engine_cases
import tally/nif

pub fn engine_info_test() {
  engine_cases.engine_info(nif.engine_info(), "nif")
}

pub fn meter_unit_test() {
  engine_cases.meter_unit(nif.meter_unit)
}

pub fn parse_event_line_test() {
  engine_cases.parse_event_line(nif.parse_event_line)
}
