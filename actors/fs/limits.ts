// Sizes that bound the fs actor's messages, shared by the messages' schemas and the store code that
// enforces them (kept apart so that importing the messages loads no store code).

/** Default and largest content per fs.readSlice window. */
export const DEFAULT_SLICE_WINDOW = 2 * 1024 * 1024;
export const MAX_SLICE_WINDOW = 8 * 1024 * 1024;
/** Largest run one fs.writeGroups takes, and most pieces in it (IOV_MAX of one writev). */
export const MAX_WRITE_BYTES = 8 * 1024 * 1024;
export const MAX_WRITE_VIEWS = 1024;
