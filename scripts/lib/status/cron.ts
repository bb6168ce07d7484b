// The 5-field cron expressions k3s takes for `etcd-snapshot-schedule-cron` (minute hour day-of-month month
// day-of-week; `*`, numbers, ranges, lists and `/step`), to tell whether the newest etcd snapshot is as recent
// as the schedule promises. k3s reads the schedule in the server's local time: the caller passes its offset.

interface Field {
  min: number;
  max: number;
}
const FIELDS: readonly Field[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12 },
  { min: 0, max: 7 },
];

export interface CronSchedule {
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  days: ReadonlySet<number>;
  months: ReadonlySet<number>;
  weekdays: ReadonlySet<number>;
  /** Cron's rule: when both day fields are restricted, a time matches either of them. */
  dayRestricted: boolean;
  weekdayRestricted: boolean;
}

function parseField(text: string, field: Field, name: string): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(",")) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (match === null) {
      throw new Error(`cron ${name} field ${JSON.stringify(text)}: cannot read ${JSON.stringify(part)}`);
    }
    const [, , from, to, step] = match;
    const start = from === undefined ? field.min : Number(from);
    const end =
      from === undefined ? field.max : to !== undefined ? Number(to) : step !== undefined ? field.max : start;
    const by = step === undefined ? 1 : Number(step);
    if (start < field.min || end > field.max || start > end || by < 1) {
      throw new Error(
        `cron ${name} field ${JSON.stringify(text)}: out of range ${String(field.min)}-${String(field.max)}`,
      );
    }
    for (let v = start; v <= end; v += by) {
      values.add(v);
    }
  }
  return values;
}

export function parseCron(expression: string): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) {
    throw new Error(`cron ${JSON.stringify(expression)}: expected 5 fields, got ${String(parts.length)}`);
  }
  const names = ["minute", "hour", "day-of-month", "month", "day-of-week"];
  const [minutes, hours, days, months, weekdays] = parts.map((p, i) =>
    parseField(p, FIELDS[i] as Field, names[i] as string),
  ) as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  if (weekdays.delete(7)) {
    weekdays.add(0);
  }
  return {
    minutes,
    hours,
    days,
    months,
    weekdays,
    dayRestricted: parts[2] !== "*",
    weekdayRestricted: parts[4] !== "*",
  };
}

function matches(s: CronSchedule, t: Date): boolean {
  if (
    !s.minutes.has(t.getUTCMinutes()) ||
    !s.hours.has(t.getUTCHours()) ||
    !s.months.has(t.getUTCMonth() + 1)
  ) {
    return false;
  }
  const day = s.days.has(t.getUTCDate());
  const weekday = s.weekdays.has(t.getUTCDay());
  if (s.dayRestricted && s.weekdayRestricted) {
    return day || weekday;
  }
  return day && weekday;
}

const MINUTE_MS = 60_000;
/** Far enough back for any schedule that fires at least once a year (a leap day one included). */
const SEARCH_MINUTES = 4 * 366 * 24 * 60;

/**
 * The latest time at or before `at` (whole minutes) when the schedule fires on a clock `utcOffsetMinutes` ahead
 * of UTC (k3s's server local time; 0 for UTC); undefined if it never fires within 4 years.
 */
export function previousFiring(schedule: CronSchedule, at: Date, utcOffsetMinutes = 0): Date | undefined {
  const offset = utcOffsetMinutes * MINUTE_MS;
  let t = Math.floor(at.getTime() / MINUTE_MS) * MINUTE_MS;
  for (let i = 0; i < SEARCH_MINUTES; i++, t -= MINUTE_MS) {
    if (matches(schedule, new Date(t + offset))) {
      return new Date(t);
    }
  }
  return undefined;
}

/** `date +%z`'s `+0530` / `-0800` as minutes; undefined when it is not one. */
export function parseUtcOffset(text: string): number | undefined {
  const match = /^([+-])(\d{2})(\d{2})$/.exec(text.trim());
  if (match === null) {
    return undefined;
  }
  const [, sign, hours, minutes] = match;
  return (sign === "-" ? -1 : 1) * (Number(hours) * 60 + Number(minutes));
}
