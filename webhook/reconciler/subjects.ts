// The objects a finding or an action can be about. Each finding and action names the ones it carries (About<...>);
// the others are typed `?: never`, so code that reads any of them (keys, sorting, printing) sees `undefined` there
// and code that has narrowed to one kind sees exactly what it holds.
interface Subjects {
  pool?: never;
  ip?: never;
  record?: never;
  pods?: never;
  endpoint?: never;
  allocatedIPCount?: never;
  records?: never;
  /** the Node a finding is about (a terminating pod's node that has not confirmed) */
  node?: never;
}

export type About<K extends keyof Subjects> = Omit<Subjects, K>;
