export default function Home() {
  return (
    <main>
      <h1>Cascadia demos</h1>
    </main>
  );
}
