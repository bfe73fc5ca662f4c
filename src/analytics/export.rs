//! Exports of readings for analysts, as CSV or Parquet, encoded incrementally: rows go in
//! one at a time and bytes come out as they are ready, so an export of any size streams
//! in bounded memory (a Parquet row group, [`ROW_GROUP`] rows, at most).

use std::io::Write;
use std::sync::{Arc, Mutex};

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// Rows per Parquet row group.
pub const ROW_GROUP: usize = 65_536;

/// One exported row: a reading (or a bucket's aggregates) with the columns analysts join on.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ExportRow {
    pub time: DateTime<Utc>,
    pub dev_eui: String,
    pub device_name: String,
    pub model: String,
    pub commune: Option<String>,
    pub commune_name: Option<String>,
    pub site_id: Option<i64>,
    pub site_name: Option<String>,
    pub service: Option<String>,
    pub metric: String,
    pub unit: Option<String>,
    /// The reading, or the bucket's mean.
    pub value: f64,
    /// Buckets only: readings, lowest, highest, latest.
    pub count: Option<i64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub last: Option<f64>,
}

/// Column names, in order.
pub const COLUMNS: [&str; 16] = [
    "time",
    "dev_eui",
    "device_name",
    "model",
    "commune",
    "commune_name",
    "site_id",
    "site_name",
    "service",
    "metric",
    "unit",
    "value",
    "count",
    "min",
    "max",
    "last",
];

/// Errors of an encoder.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("Arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    pub fn encoder(self) -> Result<Box<dyn Encoder>, ExportError> {
        Ok(match self {
            Format::Csv => Box::new(CsvEncoder::new()?),
            Format::Parquet => Box::new(ParquetEncoder::new()?),
        })
    }
}

/// Rows in, bytes out.
pub trait Encoder: Send {
    fn push(&mut self, row: &ExportRow) -> Result<(), ExportError>;
    /// The bytes ready so far (taken).
    fn take(&mut self) -> Vec<u8>;
    /// The last bytes (for Parquet, the last row group and the footer).
    fn finish(self: Box<Self>) -> Result<Vec<u8>, ExportError>;
}

/// CSV with a header line, `,`-separated, RFC 3339 times.
pub struct CsvEncoder {
    out: Shared,
    w: csv::Writer<Shared>,
}

impl CsvEncoder {
    pub fn new() -> Result<Self, ExportError> {
        let out = Shared::default();
        let mut w = csv::Writer::from_writer(out.clone());
        w.write_record(COLUMNS)?;
        Ok(Self { out, w })
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

impl Encoder for CsvEncoder {
    fn push(&mut self, r: &ExportRow) -> Result<(), ExportError> {
        self.w.write_record([
            r.time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true).as_str(),
            &r.dev_eui,
            &r.device_name,
            &r.model,
            r.commune.as_deref().unwrap_or_default(),
            r.commune_name.as_deref().unwrap_or_default(),
            &opt(&r.site_id),
            r.site_name.as_deref().unwrap_or_default(),
            r.service.as_deref().unwrap_or_default(),
            &r.metric,
            r.unit.as_deref().unwrap_or_default(),
            &r.value.to_string(),
            &opt(&r.count),
            &opt(&r.min),
            &opt(&r.max),
            &opt(&r.last),
        ])?;
        Ok(())
    }

    fn take(&mut self) -> Vec<u8> {
        // The writer buffers up to 8 KiB itself; what it passed on is ready.
        self.out.take()
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<u8>, ExportError> {
        self.w.flush().map_err(csv::Error::from)?;
        Ok(self.out.take())
    }
}

/// A `Write` whose bytes the encoder takes as they come.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Shared {
    fn take(&self) -> Vec<u8> {
        self.0.lock().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default()
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut b) => {
                b.extend_from_slice(buf);
                Ok(buf.len())
            }
            Err(_) => Err(std::io::Error::other("export buffer poisoned")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The Arrow schema of exported rows.
pub fn schema() -> SchemaRef {
    let s = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let f = |name: &str, nullable| Field::new(name, DataType::Float64, nullable);
    Arc::new(Schema::new(vec![
        Field::new("time", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        s("dev_eui", false),
        s("device_name", false),
        s("model", false),
        s("commune", true),
        s("commune_name", true),
        Field::new("site_id", DataType::Int64, true),
        s("site_name", true),
        s("service", true),
        s("metric", false),
        s("unit", true),
        f("value", false),
        Field::new("count", DataType::Int64, true),
        f("min", true),
        f("max", true),
        f("last", true),
    ]))
}

/// Column builders of one row group.
struct Columns {
    time: TimestampMicrosecondBuilder,
    strings: [StringBuilder; 9],
    site_id: Int64Builder,
    value: Float64Builder,
    count: Int64Builder,
    floats: [Float64Builder; 3],
    len: usize,
}

impl Columns {
    fn new() -> Self {
        Self {
            time: TimestampMicrosecondBuilder::with_capacity(ROW_GROUP).with_timezone("UTC"),
            strings: std::array::from_fn(|_| StringBuilder::new()),
            site_id: Int64Builder::with_capacity(ROW_GROUP),
            value: Float64Builder::with_capacity(ROW_GROUP),
            count: Int64Builder::with_capacity(ROW_GROUP),
            floats: std::array::from_fn(|_| Float64Builder::with_capacity(ROW_GROUP)),
            len: 0,
        }
    }

    fn push(&mut self, r: &ExportRow) {
        self.time.append_value(r.time.timestamp_micros());
        let [dev_eui, name, model, commune, commune_name, site_name, service, metric, unit] = &mut self.strings;
        dev_eui.append_value(&r.dev_eui);
        name.append_value(&r.device_name);
        model.append_value(&r.model);
        commune.append_option(r.commune.as_deref());
        commune_name.append_option(r.commune_name.as_deref());
        site_name.append_option(r.site_name.as_deref());
        service.append_option(r.service.as_deref());
        metric.append_value(&r.metric);
        unit.append_option(r.unit.as_deref());
        self.site_id.append_option(r.site_id);
        self.value.append_value(r.value);
        self.count.append_option(r.count);
        let [min, max, last] = &mut self.floats;
        min.append_option(r.min);
        max.append_option(r.max);
        last.append_option(r.last);
        self.len += 1;
    }

    fn batch(&mut self, schema: &SchemaRef) -> Result<RecordBatch, ExportError> {
        let [dev_eui, name, model, commune, commune_name, site_name, service, metric, unit] = &mut self.strings;
        let [min, max, last] = &mut self.floats;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(dev_eui.finish()),
            Arc::new(name.finish()),
            Arc::new(model.finish()),
            Arc::new(commune.finish()),
            Arc::new(commune_name.finish()),
            Arc::new(self.site_id.finish()),
            Arc::new(site_name.finish()),
            Arc::new(service.finish()),
            Arc::new(metric.finish()),
            Arc::new(unit.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.count.finish()),
            Arc::new(min.finish()),
            Arc::new(max.finish()),
            Arc::new(last.finish()),
        ];
        self.len = 0;
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}

/// Parquet, Snappy-compressed, one row group per [`ROW_GROUP`] rows.
pub struct ParquetEncoder {
    schema: SchemaRef,
    out: Shared,
    writer: ArrowWriter<Shared>,
    columns: Columns,
}

impl ParquetEncoder {
    pub fn new() -> Result<Self, ExportError> {
        let schema = schema();
        let out = Shared::default();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_created_by("roc42".into())
            .build();
        let writer = ArrowWriter::try_new(out.clone(), schema.clone(), Some(props))?;
        Ok(Self { schema, out, writer, columns: Columns::new() })
    }

    fn write_group(&mut self) -> Result<(), ExportError> {
        if self.columns.len == 0 {
            return Ok(());
        }
        let batch = self.columns.batch(&self.schema)?;
        self.writer.write(&batch)?;
        // Ends the row group: its bytes reach `out`.
        self.writer.flush()?;
        Ok(())
    }
}

impl Encoder for ParquetEncoder {
    fn push(&mut self, row: &ExportRow) -> Result<(), ExportError> {
        self.columns.push(row);
        if self.columns.len >= ROW_GROUP {
            self.write_group()?;
        }
        Ok(())
    }

    fn take(&mut self) -> Vec<u8> {
        self.out.take()
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<u8>, ExportError> {
        self.write_group()?;
        let out = self.out.clone();
        self.writer.close()?;
        Ok(out.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn row(i: i64) -> ExportRow {
        ExportRow {
            time: DateTime::from_timestamp(1_735_689_600 + i * 900, 0).unwrap_or_default(),
            dev_eui: "70b3d57ed0000001".into(),
            device_name: "Salle 1, \"CM2\"".into(),
            model: "elsys-ers-co2".into(),
            commune: Some("42218".into()),
            commune_name: Some("Saint-Étienne".into()),
            site_id: Some(3),
            site_name: None,
            service: Some("air-quality-schools".into()),
            metric: "air.co2".into(),
            unit: Some("ppm".into()),
            value: 400.0 + i as f64,
            count: None,
            min: None,
            max: None,
            last: None,
        }
    }

    #[test]
    fn csv_quotes_and_leaves_nulls_empty() {
        let mut e: Box<dyn Encoder> = Box::new(CsvEncoder::new().unwrap());
        e.push(&row(0)).unwrap();
        let mut bytes = e.take();
        bytes.extend(e.finish().unwrap());
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "2025-01-01T00:00:00Z,70b3d57ed0000001,\"Salle 1, \"\"CM2\"\"\",elsys-ers-co2,42218,Saint-Étienne,3,,air-quality-schools,air.co2,ppm,400,,,,"
        );
    }

    #[test]
    fn parquet_streams_row_groups_and_reads_back() {
        let mut e: Box<dyn Encoder> = Box::new(ParquetEncoder::new().unwrap());
        let n = ROW_GROUP as i64 * 2 + 10;
        let mut bytes = Vec::new();
        let mut chunks = 0;
        for i in 0..n {
            e.push(&row(i)).unwrap();
            let b = e.take();
            if !b.is_empty() {
                chunks += 1;
                bytes.extend(b);
            }
        }
        bytes.extend(e.finish().unwrap());
        // Bytes came out before the end: the export streams.
        assert!(chunks >= 2, "{chunks}");
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows(), n);
        assert_eq!(meta.num_row_groups(), 3);
        let schema = meta.file_metadata().schema_descr();
        let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, COLUMNS);
    }
}
