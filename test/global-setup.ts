// Services shared by the whole run are started here (see test/support/).
export default async function setup(): Promise<void> {}
