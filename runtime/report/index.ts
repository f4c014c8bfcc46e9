/** Public API of the training report: sample overlays, the run reader, the HTML page and its SVG charts. */
export { writeSampleOverlays, SampleOverlayWriter, overlayPanels, displayRgb, PANEL_GAP, type SampleOverlayArgs, type OverlayPanelsArgs } from './samples.js';
export { renderReport, formatDuration } from './html.js';
export {
  loadRunData,
  parseLog,
  type RunData,
  type RunFacts,
  type RunStage,
  type RunSample,
  type SamplesJson,
} from './run-data.js';
export { defaultRunDir, readLastBuild, type LastBuild } from './find.js';
export { writeReport } from './write.js';
export { lineChart, LineChart, splitFinite, decimate, tickStep, ticks, formatTick, CHART_COLORS, type LineChartArgs, type ChartSeries, type ChartMarker, type ChartLayout, type Point } from './svg.js';
export { escapeHtml } from './escape.js';
export { classPalette, rgbHex, DEFAULT_PALETTE, type Rgb } from '../io/palette.js';
export { studyTable, studyMarkdown, studySection, studyPage, meanStdCell, type StudyRunResult, type StudyRow, type StudyTable } from './study.js';
