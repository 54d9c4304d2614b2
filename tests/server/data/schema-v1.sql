-- The server's metadata schema of version 1 (the first release, issue 13), as SQLite made it:
-- frozen here so that every later step is tested against a store that release made.
-- Do not edit: a store of version 1 holds exactly this.
CREATE TABLE changes (
	folder_id INTEGER NOT NULL, 
	seq BIGINT NOT NULL, 
	op TEXT NOT NULL, 
	path TEXT NOT NULL, 
	from_path TEXT, 
	device_id TEXT NOT NULL, 
	op_id TEXT, 
	op_digest BLOB, 
	result TEXT, 
	made_ns BIGINT NOT NULL, 
	PRIMARY KEY (folder_id, seq), 
	UNIQUE (folder_id, op_id), 
	FOREIGN KEY(folder_id) REFERENCES folders (id)
);
CREATE TABLE chunks (
	chunk_ns TEXT NOT NULL, 
	chunk_id BLOB NOT NULL, 
	length INTEGER NOT NULL, 
	stored_ns BIGINT NOT NULL, 
	lease_until_ns BIGINT NOT NULL, 
	PRIMARY KEY (chunk_ns, chunk_id)
);
CREATE TABLE content_chunks (
	content_id INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	chunk_id BLOB NOT NULL, 
	length INTEGER NOT NULL, 
	PRIMARY KEY (content_id, position), 
	FOREIGN KEY(content_id) REFERENCES contents (id)
);
CREATE TABLE contents (
	id INTEGER NOT NULL, 
	folder_id INTEGER NOT NULL, 
	size BIGINT NOT NULL, 
	digest BLOB NOT NULL, 
	trashed_ns BIGINT, 
	trash_path TEXT, 
	trash_entry TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(folder_id) REFERENCES folders (id)
);
CREATE TABLE devices (
	id TEXT NOT NULL, 
	user_id INTEGER NOT NULL, 
	name TEXT NOT NULL, 
	token_hash TEXT NOT NULL, 
	created_ns BIGINT NOT NULL, 
	last_seen_ns BIGINT, 
	revoked_ns BIGINT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(user_id) REFERENCES users (id), 
	UNIQUE (token_hash)
);
CREATE TABLE entries (
	folder_id INTEGER NOT NULL, 
	path TEXT NOT NULL, 
	parent TEXT NOT NULL, 
	name_nfc TEXT NOT NULL, 
	kind TEXT NOT NULL, 
	size BIGINT, 
	mtime_ns BIGINT, 
	mode INTEGER, 
	digest BLOB, 
	target TEXT, 
	file_id TEXT NOT NULL, 
	version BIGINT NOT NULL, 
	content_id INTEGER, 
	PRIMARY KEY (folder_id, path), 
	FOREIGN KEY(folder_id) REFERENCES folders (id), 
	FOREIGN KEY(content_id) REFERENCES contents (id)
);
CREATE TABLE folder_access (
	folder_id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	rights TEXT NOT NULL, 
	PRIMARY KEY (folder_id, user_id), 
	FOREIGN KEY(folder_id) REFERENCES folders (id), 
	FOREIGN KEY(user_id) REFERENCES users (id)
);
CREATE TABLE folder_meta (
	folder_id INTEGER NOT NULL, 
	"key" TEXT NOT NULL, 
	text TEXT NOT NULL, 
	PRIMARY KEY (folder_id, "key"), 
	FOREIGN KEY(folder_id) REFERENCES folders (id)
);
CREATE TABLE folders (
	id INTEGER NOT NULL, 
	uid TEXT NOT NULL, 
	owner_id INTEGER NOT NULL, 
	name TEXT NOT NULL, 
	seq BIGINT NOT NULL, 
	chunk_ns TEXT NOT NULL, 
	root_mode INTEGER NOT NULL, 
	root_mtime_ns BIGINT NOT NULL, 
	created_ns BIGINT NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (owner_id, name), 
	UNIQUE (uid), 
	FOREIGN KEY(owner_id) REFERENCES users (id), 
	UNIQUE (chunk_ns)
);
CREATE TABLE locks (
	folder_id INTEGER NOT NULL, 
	holder TEXT NOT NULL, 
	lock_id TEXT NOT NULL, 
	mode TEXT NOT NULL, 
	expires_ns BIGINT NOT NULL, 
	PRIMARY KEY (folder_id, holder), 
	FOREIGN KEY(folder_id) REFERENCES folders (id), 
	UNIQUE (lock_id)
);
CREATE TABLE settings (
	"key" TEXT NOT NULL, 
	text TEXT NOT NULL, 
	PRIMARY KEY ("key")
);
CREATE TABLE users (
	id INTEGER NOT NULL, 
	name TEXT NOT NULL, 
	password_hash TEXT NOT NULL, 
	admin BOOLEAN NOT NULL, 
	created_ns BIGINT NOT NULL, 
	disabled BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
CREATE INDEX contents_trash ON contents (folder_id, trashed_ns);
CREATE INDEX entries_file_id ON entries (folder_id, file_id);
CREATE INDEX entries_nfc ON entries (folder_id, parent, name_nfc);
CREATE INDEX entries_parent ON entries (folder_id, parent);
CREATE INDEX entries_version ON entries (folder_id, version);
CREATE INDEX ix_content_chunks_chunk_id ON content_chunks (chunk_id);
CREATE INDEX ix_devices_user_id ON devices (user_id);
CREATE INDEX ix_folder_access_user_id ON folder_access (user_id);
